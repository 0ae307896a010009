//! USB printer class (interface class 0x07) via rusb: bulk OUT for data, bulk IN (where the
//! printer has one) for status bytes such as the replies to `DLE EOT n`.

use std::time::Duration;

use rusb::{Direction, TransferType, UsbContext};

use crate::link::{Link, LinkError, LinkErrorKind};

const PRINTER_CLASS: u8 = 0x07;

/// An open USB printer-class interface.
pub struct UsbPrinterLink {
    handle: rusb::DeviceHandle<rusb::Context>,
    interface: u8,
    ep_out: u8,
    ep_in: Option<u8>,
    name: String,
}

fn usb_err(what: &'static str, name: &str, e: rusb::Error) -> LinkError {
    let kind = match e {
        rusb::Error::NoDevice | rusb::Error::NotFound => LinkErrorKind::NotFound,
        rusb::Error::Access => LinkErrorKind::PermissionDenied,
        rusb::Error::Timeout => LinkErrorKind::Timeout,
        rusb::Error::Pipe | rusb::Error::Io => LinkErrorKind::Disconnected,
        rusb::Error::NotSupported => LinkErrorKind::Unsupported,
        _ => LinkErrorKind::Io,
    };
    let hint = match kind {
        LinkErrorKind::PermissionDenied => {
            " (install packaging/udev rules or add the user to group lp)"
        }
        LinkErrorKind::NotFound => " (is the printer on and plugged in? check `lsusb`)",
        _ => "",
    };
    LinkError::new(kind, what, name, format!("{e}{hint}"))
}

impl UsbPrinterLink {
    /// Opens the first printer-class interface, of the given device if `ids` is set.
    pub fn open(ids: Option<(u16, u16)>) -> Result<Self, LinkError> {
        let name = match ids {
            Some((v, p)) => format!("usb:{v:04x}:{p:04x}"),
            None => "usb:auto".to_string(),
        };
        let ctx = rusb::Context::new().map_err(|e| usb_err("cannot start libusb", &name, e))?;
        let devices = ctx
            .devices()
            .map_err(|e| usb_err("cannot list USB devices", &name, e))?;
        for device in devices.iter() {
            let Ok(desc) = device.device_descriptor() else {
                continue;
            };
            if let Some((v, p)) = ids
                && (desc.vendor_id() != v || desc.product_id() != p)
            {
                continue;
            }
            let Ok(config) = device.active_config_descriptor() else {
                continue;
            };
            for iface in config.interfaces() {
                for alt in iface.descriptors() {
                    if alt.class_code() != PRINTER_CLASS && ids.is_none() {
                        continue;
                    }
                    let mut ep_out = None;
                    let mut ep_in = None;
                    for ep in alt.endpoint_descriptors() {
                        if ep.transfer_type() != TransferType::Bulk {
                            continue;
                        }
                        match ep.direction() {
                            Direction::Out if ep_out.is_none() => ep_out = Some(ep.address()),
                            Direction::In if ep_in.is_none() => ep_in = Some(ep.address()),
                            _ => {}
                        }
                    }
                    let Some(ep_out) = ep_out else { continue };
                    let handle = device
                        .open()
                        .map_err(|e| usb_err("cannot open", &name, e))?;
                    let interface = alt.interface_number();
                    // The kernel's usblp driver holds the interface; take it over while we run.
                    let _ = handle.set_auto_detach_kernel_driver(true);
                    handle
                        .claim_interface(interface)
                        .map_err(|e| usb_err("cannot claim interface", &name, e))?;
                    let name = format!(
                        "usb:{:04x}:{:04x} (bus {} addr {})",
                        desc.vendor_id(),
                        desc.product_id(),
                        device.bus_number(),
                        device.address()
                    );
                    return Ok(UsbPrinterLink {
                        handle,
                        interface,
                        ep_out,
                        ep_in,
                        name,
                    });
                }
            }
        }
        Err(LinkError::new(
            LinkErrorKind::NotFound,
            "cannot open",
            name,
            "no USB printer-class device with a bulk OUT endpoint found (is the printer on? check `lsusb`)",
        ))
    }
}

impl Link for UsbPrinterLink {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = self
                .handle
                .write_bulk(self.ep_out, rest, Duration::from_secs(5))
                .map_err(|e| usb_err("write failed", &self.name, e))?;
            rest = &rest[n..];
        }
        Ok(())
    }

    fn read_some(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        let Some(ep) = self.ep_in else {
            return Err(LinkError::new(
                LinkErrorKind::Unsupported,
                "cannot read",
                &self.name,
                "the printer has no bulk IN endpoint",
            ));
        };
        match self
            .handle
            .read_bulk(ep, buf, timeout.max(Duration::from_millis(1)))
        {
            Ok(n) => Ok(n),
            Err(rusb::Error::Timeout) => Ok(0),
            Err(e) => Err(usb_err("read failed", &self.name, e)),
        }
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

impl Drop for UsbPrinterLink {
    fn drop(&mut self) {
        let _ = self.handle.release_interface(self.interface);
    }
}
