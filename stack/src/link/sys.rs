//! What the Linux links share with the operating system: interface requests
//! (`ifreq` ioctls, to read an interface's MTU or bring it up, and
//! `in6_ifreq` to give it an IPv6 address) and the one-line error for a
//! step that failed, often for want of a privilege.
//!
//! The link files (`loopback`, `tun`, `netns`) take these from here and
//! never from each other.

use std::io;
use std::net::Ipv6Addr;
use std::os::fd::{AsFd, AsRawFd};

use socket2::{Domain, Socket, Type};

/// One line for a failed step: how to get the privilege when that is what
/// was missing, else what failed and why.
pub(crate) fn os_error(err: io::Error, action: &str, capability: &str) -> io::Error {
    let message = if err.kind() == io::ErrorKind::PermissionDenied {
        format!(
            "{action} needs {capability}: run with sudo, or grant it once with \
             `sudo setcap cap_net_raw,cap_net_admin+ep ./target/release/httpd`"
        )
    } else {
        format!("{action}: {err}")
    };
    io::Error::new(err.kind(), message)
}

/// Whether `name` can name a network interface: 1 to 15 bytes (the kernel's
/// `IFNAMSIZ` less its NUL), without spaces or slashes.
pub fn check_interface_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(['\0', '/', ' ']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?}: use 1 to {} bytes without spaces or slashes", libc::IFNAMSIZ - 1),
        ));
    }
    Ok(())
}

/// An interface request naming `name`, everything else zero.
pub(crate) fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    check_interface_name(name)?;
    // SAFETY: `ifreq` is a C struct of integers, byte arrays and a union of
    // those and one pointer; all-zero bytes are a valid value of each.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

/// Runs one `ioctl` that takes an interface request.
pub(crate) fn interface_ioctl(fd: &impl AsFd, request: libc::Ioctl, req: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: every request passed here reads and writes at most one `ifreq`,
    // and `req` is a valid, exclusively borrowed one for the whole call.
    let rc = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), request, req as *mut libc::ifreq) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The MTU of interface `name`; `socket` is any socket, used for the ioctl.
pub(crate) fn interface_mtu(socket: &impl AsFd, name: &str) -> io::Result<usize> {
    let mut req = ifreq(name)?;
    interface_ioctl(socket, libc::SIOCGIFMTU, &mut req)?;
    // SAFETY: SIOCGIFMTU succeeded, so the kernel stored the MTU in this field.
    Ok(unsafe { req.ifr_ifru.ifru_mtu } as usize)
}

/// Sets `IFF_UP` on interface `name`, keeping its other flags.
pub(crate) fn set_up(socket: &impl AsFd, name: &str) -> io::Result<()> {
    let mut req = ifreq(name)?;
    interface_ioctl(socket, libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS succeeded, so the kernel stored the flags here.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    interface_ioctl(socket, libc::SIOCSIFFLAGS, &mut req)
}

/// Adds `addr/prefix` to interface `name`: the IPv6 `SIOCSIFADDR`, which
/// takes an `in6_ifreq` on an IPv6 socket.
pub(crate) fn add_ipv6_address(name: &str, addr: Ipv6Addr, prefix: u8) -> io::Result<()> {
    let control = Socket::new(Domain::IPV6, Type::DGRAM, None)?;
    let mut req = ifreq(name)?;
    interface_ioctl(&control, libc::SIOCGIFINDEX, &mut req)?;
    // SAFETY: SIOCGIFINDEX succeeded, so the kernel stored the index here.
    let index = unsafe { req.ifr_ifru.ifru_ifindex };
    let mut req6 = libc::in6_ifreq {
        ifr6_addr: libc::in6_addr { s6_addr: addr.octets() },
        ifr6_prefixlen: u32::from(prefix),
        ifr6_ifindex: index,
    };
    // SAFETY: SIOCSIFADDR on an IPv6 socket reads one `in6_ifreq`, and
    // `req6` is a valid one for the whole call.
    let rc = unsafe { libc::ioctl(control.as_raw_fd(), libc::SIOCSIFADDR, &mut req6 as *mut libc::in6_ifreq) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
