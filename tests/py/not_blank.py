#!/usr/bin/env python3
"""Exits 0 if the PNG given is a real picture: the expected size, and not
one flat colour (a blank or failed render)."""
import sys

from PIL import Image, ImageStat

img = Image.open(sys.argv[1]).convert("RGB")
w, h = (int(x) for x in sys.argv[2].split(","))
if img.size != (w, h):
    sys.exit(f"size {img.size}, want {(w, h)}")
colours = img.getcolors(maxcolors=1 << 20) or []
stddev = ImageStat.Stat(img.convert("L")).stddev[0]
print(f"{img.size}, {len(colours)} colours, luminance stddev {stddev:.1f}")
if len(colours) < 16 or stddev < 5:
    sys.exit("blank: too few colours or too little contrast")
