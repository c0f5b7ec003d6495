// Deciding how WeCom shows a file: which upload type, and whether a robot may send an image inline.

import { createHash } from 'node:crypto';
import type { MediaSegment } from '../../src/message.js';
import type { UploadType } from './api.js';

export interface Bytes {
  data: Uint8Array;
  mime: string;
  name: string;
}

/** JPG or PNG, by their first bytes: the only image formats WeCom shows. */
export function isJpegOrPng(data: Uint8Array): boolean {
  const jpeg = data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff;
  const png = data[0] === 0x89 && data[1] === 0x50 && data[2] === 0x4e && data[3] === 0x47;
  return jpeg || png;
}

/** A robot's inline image: base64 + md5 of the raw bytes, at most 2 MB, JPG/PNG. */
export const robotImageLimit = 2 * 1024 * 1024;

export function inlineImage(data: Uint8Array): { base64: string; md5: string } {
  return { base64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'), md5: createHash('md5').update(data).digest('hex') };
}

/** The app upload type (and message type) for a file: what WeCom can play or show, else a plain file. */
export function appUploadType(segment: MediaSegment, bytes: Bytes): UploadType {
  const size = bytes.data.byteLength;
  const mime = bytes.mime.toLowerCase();
  if (segment.type === 'image' && isJpegOrPng(bytes.data) && size <= 10 * 1024 * 1024) return 'image';
  if (segment.type === 'audio' && (mime === 'audio/amr' || bytes.name.toLowerCase().endsWith('.amr')) && size <= 2 * 1024 * 1024) return 'voice';
  if (segment.type === 'video' && (mime === 'video/mp4' || bytes.name.toLowerCase().endsWith('.mp4')) && size <= 10 * 1024 * 1024) return 'video';
  return 'file';
}

/** A name for an upload: the segment's, else one from its type and mime. */
export function fileName(segment: MediaSegment, mime: string): string {
  if (segment.name) return segment.name;
  const ext = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/gif': 'gif', 'audio/amr': 'amr', 'video/mp4': 'mp4', 'application/pdf': 'pdf', 'text/plain': 'txt' }[mime] ?? 'bin';
  return `${segment.type}.${ext}`;
}
