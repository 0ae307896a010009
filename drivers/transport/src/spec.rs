//! Transport strings as written in profiles, the CLI and the maintenance menu
//! (`../shared/ARCHITECTURE.md`, "Contracts"): `serial:PATH@BAUD`, `usb:auto`, `usb:VID:PID`,
//! `tcp:HOST:PORT`, `file:PATH`, `sim:`.

use std::fmt;
use std::str::FromStr;

/// Where a peripheral is attached.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransportSpec {
    /// A serial port (RS-232, USB-serial, or a pseudo-terminal) at a baud rate.
    Serial { path: String, baud: u32 },
    /// The first USB printer-class (0x07) device found.
    UsbAuto,
    /// A USB device by vendor and product id.
    Usb { vid: u16, pid: u16 },
    /// A TCP socket (e.g. a network receipt printer on port 9100).
    Tcp { host: String, port: u16 },
    /// A character device or plain file, e.g. `/dev/usb/lp0`.
    File { path: String },
    /// The built-in simulator of the device class (demo mode).
    Sim,
}

/// Why a transport string could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error(
        "unknown transport '{0}': expected serial:PATH@BAUD, usb:auto, usb:VID:PID, tcp:HOST:PORT, file:PATH or sim:"
    )]
    UnknownScheme(String),
    #[error("serial transport '{0}' needs a path and a baud rate, e.g. serial:/dev/ttyUSB0@115200")]
    BadSerial(String),
    #[error("USB transport '{0}' needs 'auto' or hexadecimal VID:PID, e.g. usb:0416:5011")]
    BadUsb(String),
    #[error("TCP transport '{0}' needs HOST:PORT, e.g. tcp:127.0.0.1:9100")]
    BadTcp(String),
    #[error("file transport '{0}' needs a path, e.g. file:/dev/usb/lp0")]
    BadFile(String),
}

impl FromStr for TransportSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (scheme, rest) = s
            .split_once(':')
            .ok_or_else(|| SpecError::UnknownScheme(s.to_string()))?;
        match scheme {
            "serial" => {
                let (path, baud) = rest
                    .rsplit_once('@')
                    .ok_or_else(|| SpecError::BadSerial(s.to_string()))?;
                let baud: u32 = baud
                    .parse()
                    .map_err(|_| SpecError::BadSerial(s.to_string()))?;
                if path.is_empty() || baud == 0 {
                    return Err(SpecError::BadSerial(s.to_string()));
                }
                Ok(TransportSpec::Serial {
                    path: path.to_string(),
                    baud,
                })
            }
            "usb" => {
                if rest == "auto" {
                    return Ok(TransportSpec::UsbAuto);
                }
                let (v, p) = rest
                    .split_once(':')
                    .ok_or_else(|| SpecError::BadUsb(s.to_string()))?;
                let vid =
                    u16::from_str_radix(v, 16).map_err(|_| SpecError::BadUsb(s.to_string()))?;
                let pid =
                    u16::from_str_radix(p, 16).map_err(|_| SpecError::BadUsb(s.to_string()))?;
                Ok(TransportSpec::Usb { vid, pid })
            }
            "tcp" => {
                let (host, port) = rest
                    .rsplit_once(':')
                    .ok_or_else(|| SpecError::BadTcp(s.to_string()))?;
                let port: u16 = port.parse().map_err(|_| SpecError::BadTcp(s.to_string()))?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                if host.is_empty() {
                    return Err(SpecError::BadTcp(s.to_string()));
                }
                Ok(TransportSpec::Tcp {
                    host: host.to_string(),
                    port,
                })
            }
            "file" => {
                if rest.is_empty() {
                    return Err(SpecError::BadFile(s.to_string()));
                }
                Ok(TransportSpec::File {
                    path: rest.to_string(),
                })
            }
            "sim" => Ok(TransportSpec::Sim),
            _ => Err(SpecError::UnknownScheme(s.to_string())),
        }
    }
}

impl fmt::Display for TransportSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportSpec::Serial { path, baud } => write!(f, "serial:{path}@{baud}"),
            TransportSpec::UsbAuto => write!(f, "usb:auto"),
            TransportSpec::Usb { vid, pid } => write!(f, "usb:{vid:04x}:{pid:04x}"),
            TransportSpec::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp:[{host}]:{port}")
            }
            TransportSpec::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
            TransportSpec::File { path } => write!(f, "file:{path}"),
            TransportSpec::Sim => write!(f, "sim:"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            "serial:/dev/ttyUSB0@115200"
                .parse::<TransportSpec>()
                .unwrap(),
            TransportSpec::Serial {
                path: "/dev/ttyUSB0".into(),
                baud: 115200
            }
        );
        assert_eq!(
            "usb:auto".parse::<TransportSpec>().unwrap(),
            TransportSpec::UsbAuto
        );
        assert_eq!(
            "usb:0416:5011".parse::<TransportSpec>().unwrap(),
            TransportSpec::Usb {
                vid: 0x0416,
                pid: 0x5011
            }
        );
        assert_eq!(
            "tcp:127.0.0.1:9100".parse::<TransportSpec>().unwrap(),
            TransportSpec::Tcp {
                host: "127.0.0.1".into(),
                port: 9100
            }
        );
        assert_eq!(
            "tcp:[::1]:9100".parse::<TransportSpec>().unwrap(),
            TransportSpec::Tcp {
                host: "::1".into(),
                port: 9100
            }
        );
        assert_eq!(
            "file:/dev/usb/lp0".parse::<TransportSpec>().unwrap(),
            TransportSpec::File {
                path: "/dev/usb/lp0".into()
            }
        );
        assert_eq!("sim:".parse::<TransportSpec>().unwrap(), TransportSpec::Sim);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "serial:/dev/x",
            "serial:@9600",
            "usb:zz:1",
            "tcp:host",
            "file:",
            "ftp:x",
        ] {
            assert!(bad.parse::<TransportSpec>().is_err(), "{bad} accepted");
        }
    }

    proptest! {
        #[test]
        fn display_round_trips(path in "/[a-z0-9/]{1,20}", baud in 1u32..4_000_000, vid: u16, pid: u16, port: u16) {
            for spec in [
                TransportSpec::Serial { path: path.clone(), baud },
                TransportSpec::Usb { vid, pid },
                TransportSpec::Tcp { host: "127.0.0.1".into(), port },
                TransportSpec::Tcp { host: "::1".into(), port },
                TransportSpec::File { path: path.clone() },
                TransportSpec::UsbAuto,
                TransportSpec::Sim,
            ] {
                prop_assert_eq!(spec.to_string().parse::<TransportSpec>().unwrap(), spec);
            }
        }

        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = s.parse::<TransportSpec>();
        }
    }
}
