fn main() {
    eprintln!("httpd: not yet implemented");
    std::process::exit(1);
}
