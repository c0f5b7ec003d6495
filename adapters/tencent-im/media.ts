// Media facts Tencent IM wants: ImageFormat codes and image dimensions.

/** ImageFormat in TIMImageElem: 1 JPG, 2 GIF, 3 PNG, 4 BMP, 255 other. */
const formats: Record<number, string> = { 1: 'image/jpeg', 2: 'image/gif', 3: 'image/png', 4: 'image/bmp' };

export function imageMime(format: number): string | undefined {
  return formats[format];
}

export function imageFormat(mime: string | undefined): number {
  const entry = Object.entries(formats).find(([, m]) => m === mime?.toLowerCase());
  return entry ? Number(entry[0]) : 255;
}

/** Width and height from a PNG, GIF or JPEG header; zeros when unknown (Tencent accepts them). */
export function imageSize(data: Uint8Array | undefined): { width: number; height: number } {
  const none = { width: 0, height: 0 };
  if (!data || data.length < 24) return none;
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.readUInt32BE(0) === 0x89504e47) return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
  if (b.toString('latin1', 0, 3) === 'GIF') return { width: b.readUInt16LE(6), height: b.readUInt16LE(8) };
  if (b[0] === 0xff && b[1] === 0xd8) {
    for (let i = 2; i + 9 < b.length; ) {
      if (b[i] !== 0xff) return none;
      const marker = b[i + 1]!;
      // SOF0-SOF15, except DHT (C4), JPG (C8) and DAC (CC), carry the frame size.
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return { width: b.readUInt16BE(i + 7), height: b.readUInt16BE(i + 5) };
      i += 2 + b.readUInt16BE(i + 2);
    }
  }
  return none;
}
