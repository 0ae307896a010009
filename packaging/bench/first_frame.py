#!/usr/bin/python3
"""Waits for the first frame that shows the attract screen's Start button on an X display.

Usage: first_frame.py TIMEOUT_SECS -- prints the epoch time in ms at which the screen first held
a pixel of the button's colour (#0b57d0, the theme's primary colour, solid fill, no
anti-aliasing inside the button). The same test for the kiosk and for Chromium, polled from
outside, so neither program measures itself. Part of packaging/bench-ui.sh; needs python3-xlib.
"""
import sys
import time

from Xlib import X, display

PRIMARY = bytes([0xD0, 0x57, 0x0B])  # #0b57d0 in a 32-bit ZPixmap: B, G, R, pad


def main() -> int:
    timeout = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    d = display.Display()
    root = d.screen().root
    geo = root.get_geometry()
    deadline = time.time() + timeout
    while time.time() < deadline:
        img = root.get_image(0, 0, geo.width, geo.height, X.ZPixmap, 0xFFFFFFFF)
        data = img.data
        at = data.find(PRIMARY)
        while at != -1 and at % 4 != 0:
            at = data.find(PRIMARY, at + 1)
        if at != -1:
            print(int(time.time() * 1000))
            return 0
        time.sleep(0.005)
    print("first_frame: no Start button on screen within %.0f s" % timeout, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
