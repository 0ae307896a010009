//! Shared pieces of the subcommands: the one-line error, JSON/text output, masking of personal
//! data, transport parsing.

use std::fmt::Display;

use kiosk_devices::{DeviceFault, ErrorKind};
use kiosk_transport::TransportSpec;
use serde::Serialize;

/// A failure reported as one line; the exit status tells scripts the broad reason.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub message: String,
    pub code: i32,
}

impl CliError {
    /// Bad arguments or configuration: exit 2.
    pub fn usage(message: impl Display) -> Self {
        CliError {
            message: message.to_string(),
            code: 2,
        }
    }

    /// The operation failed: exit 1.
    pub fn failed(message: impl Display) -> Self {
        CliError {
            message: message.to_string(),
            code: 1,
        }
    }

    pub fn exit_code(&self) -> i32 {
        self.code
    }
}

impl From<DeviceFault> for CliError {
    fn from(f: DeviceFault) -> Self {
        let hint = match f.kind {
            ErrorKind::NotFound => {
                "; check the cable, the port name and that the device is powered"
            }
            ErrorKind::PermissionDenied => {
                "; run as a member of group dialout/lp or install the udev rules"
            }
            ErrorKind::Timeout => "; check the baud rate and the cable",
            ErrorKind::Protocol => "; check the baud rate and that the device speaks this protocol",
            ErrorKind::Disconnected => "; the device went away, check the cable",
            _ => "",
        };
        CliError::failed(format!("{} ({}){hint}", f.message, f.kind))
    }
}

/// Parses a transport string, as every `--port`/`--to` option does.
pub fn parse_transport(s: &str) -> Result<TransportSpec, CliError> {
    s.parse::<TransportSpec>().map_err(CliError::usage)
}

/// Prints `value` as one JSON document, or `text` for people.
pub fn emit<T: Serialize>(
    json: bool,
    value: &T,
    text: impl FnOnce() -> String,
) -> Result<(), CliError> {
    if json {
        let s = serde_json::to_string_pretty(value)
            .map_err(|e| CliError::failed(format!("cannot encode JSON: {e}")))?;
        println!("{s}");
    } else {
        print!("{}", text());
    }
    Ok(())
}

/// Masks a name for display: first character kept, the rest as `*` ("张三丰" → "张**").
pub fn mask_name(name: &str, reveal: bool) -> String {
    if reveal {
        return name.to_string();
    }
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

/// Masks an identity number: first 3 and last 2 kept ("110105********002X" style).
pub fn mask_id(id: &str, reveal: bool) -> String {
    if reveal {
        return id.to_string();
    }
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 5 {
        return "*".repeat(chars.len());
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < 3 || i >= chars.len() - 2 {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask_name("张三丰", false), "张**");
        assert_eq!(mask_name("张三丰", true), "张三丰");
        assert_eq!(mask_id("11010519491231002X", false), "110*************2X");
        assert_eq!(mask_id("123", false), "***");
    }
}
