use clap::Parser;
use httpd::{Config, Site};

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = Config::parse();
    let site = match Site::new(&config.root, || "{}".to_string()) {
        Ok(site) => site,
        Err(e) => {
            eprintln!("httpd: --root {}: {e}", config.root.display());
            std::process::exit(2);
        }
    };
    println!("would serve {} on port {} over the {:?} link", site.root().display(), config.port, config.link);
    println!("{config:#?}");
    eprintln!("httpd: event loop not yet wired to the stack");
    std::process::exit(1);
}
