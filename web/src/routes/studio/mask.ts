// Mask helpers. The user paints over the first reference image on an
// overlay canvas of the image's own size; painted pixels (alpha > 0) are
// the area to edit. The API wants a PNG of the same size whose fully
// transparent pixels mark that area, opaque elsewhere (OpenAI images edit:
// "fully transparent areas (alpha zero) indicate where image should be
// edited").

/** RGBA of the mask to send, from the overlay's RGBA: painted → transparent, else opaque black. */
export function maskPixels(overlay: Uint8ClampedArray): Uint8ClampedArray<ArrayBuffer> {
  const out = new Uint8ClampedArray(overlay.length);
  for (let i = 0; i < overlay.length; i += 4) {
    out[i + 3] = overlay[i + 3] > 0 ? 0 : 255;
  }
  return out;
}

/** Flips the painted area in place: painted pixels are cleared, the rest painted with rgba. */
export function invertPaint(px: Uint8ClampedArray, rgba: [number, number, number, number]): void {
  for (let i = 0; i < px.length; i += 4) {
    if (px[i + 3] > 0) {
      px[i] = px[i + 1] = px[i + 2] = px[i + 3] = 0;
    } else {
      px[i] = rgba[0];
      px[i + 1] = rgba[1];
      px[i + 2] = rgba[2];
      px[i + 3] = rgba[3];
    }
  }
}

/** Whether anything is painted. */
export function painted(px: Uint8ClampedArray): boolean {
  for (let i = 3; i < px.length; i += 4) if (px[i] > 0) return true;
  return false;
}

/** A pointer position in CSS pixels of the displayed canvas → the canvas's own pixels. */
export function toCanvas(x: number, y: number, shown: { width: number; height: number }, own: { width: number; height: number }) {
  return { x: (x * own.width) / Math.max(shown.width, 1), y: (y * own.height) / Math.max(shown.height, 1) };
}

/** Parses a CSS colour "#rrggbb" or "rgb(r, g, b)" into RGB; null otherwise. */
export function parseColour(s: string): [number, number, number] | null {
  const v = s.trim();
  let m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(v);
  if (m) return [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)];
  m = /^rgba?\(\s*(\d+)[\s,]+(\d+)[\s,]+(\d+)/i.exec(v);
  if (m) return [+m[1], +m[2], +m[3]];
  return null;
}
