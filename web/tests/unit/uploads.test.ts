import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
    canSend, csrfToken, fileIdsOf, fileKind, formatSize, progressOf, showsAsImage, Upload, updateUpload, uploadErrorMessage, uploading,
} from '../../src/logic/uploads';
import type { FileInfo } from '../../src/state';

const info = (id: string, extra: Partial<FileInfo> = {}): FileInfo =>
    ({ id, name: `${id}.bin`, extension: 'bin', size: 10, mime_type: 'application/octet-stream', ...extra });
const upload = (clientId: string, state: Upload['state'], extra: Partial<Upload> = {}): Upload =>
    ({ clientId, name: clientId, size: 100, loaded: 0, state, ...(state === 'done' ? { info: info(`f-${clientId}`) } : {}), ...extra });

test('a post waits while a file uploads, and may be files alone once they are up', () => {
    assert.equal(canSend('', []), false, 'nothing to send');
    assert.equal(canSend('   \n', []), false, 'blank text is nothing');
    assert.equal(canSend('hi', []), true);
    assert.equal(canSend('hi', [upload('a', 'uploading')]), false, 'text waits for the upload');
    assert.equal(canSend('', [upload('a', 'done')]), true, 'files alone');
    assert.equal(canSend('', [upload('a', 'failed')]), false, 'a failed upload is nothing to send');
    assert.equal(uploading([upload('a', 'done'), upload('b', 'uploading')]), true);
    assert.equal(uploading([upload('a', 'done'), upload('b', 'failed')]), false);
});

test('the post carries the finished files, in the order they were attached, and not the failed ones', () => {
    const list = [upload('a', 'done'), upload('b', 'failed'), upload('c', 'done'), upload('d', 'uploading')];
    assert.deepEqual(fileIdsOf(list), ['f-a', 'f-c']);
});

test('one upload changes, the others stay', () => {
    const list = [upload('a', 'uploading'), upload('b', 'uploading')];
    const next = updateUpload(list, 'b', (u) => ({ ...u, loaded: 50 }));
    assert.equal(next[0], list[0]);
    assert.equal(next[1].loaded, 50);
    assert.equal(progressOf(next[1]), 0.5);
    assert.equal(progressOf(upload('c', 'done')), 1);
    assert.equal(progressOf(upload('z', 'uploading', { size: 0 })), 0);
});

test('sizes read as people read them', () => {
    assert.equal(formatSize(0), '0 B');
    assert.equal(formatSize(1023), '1023 B');
    assert.equal(formatSize(1024), '1 KB');
    assert.equal(formatSize(1536), '1.5 KB');
    assert.equal(formatSize(5 * 1024 * 1024), '5 MB');
    assert.equal(formatSize(150 * 1024 * 1024), '150 MB');
});

test('files get an icon by their extension', () => {
    assert.equal(fileKind('report.PDF'), 'pdf');
    assert.equal(fileKind('archive.tar.gz'), 'archive');
    assert.equal(fileKind('main.rs'), 'code');
    assert.equal(fileKind('png'), 'image');
    assert.equal(fileKind('README'), 'other');
    assert.equal(showsAsImage(info('x', { has_preview_image: true })), true);
    assert.equal(showsAsImage(info('x', { extension: 'png', has_preview_image: false })), false, 'an image the server could not read is a card');
});

test('a refused upload shows the server\'s message, or what the proxy\'s page means', () => {
    const server = JSON.stringify({ id: 'api.file.upload_file.too_large_detailed.app_error', message: 'Unable to upload file big.bin. 200 bytes exceeds the maximum allowed 100 bytes.', status_code: 413 });
    assert.match(uploadErrorMessage(413, server), /exceeds the maximum allowed 100 bytes/);
    assert.match(uploadErrorMessage(413, '<html><head><title>413 Request Entity Too Large</title></head></html>'), /too large/);
    assert.match(uploadErrorMessage(502, '<html>Bad Gateway</html>'), /502/);
    assert.match(uploadErrorMessage(0, ''), /could not be reached/);
    assert.match(uploadErrorMessage(400, '{"message":""}'), /400/);
});

test('the CSRF token comes from the MMCSRF cookie', () => {
    assert.equal(csrfToken('MMUSERID=u1; MMCSRF=abc123; other=x'), 'abc123');
    assert.equal(csrfToken('MMCSRF=tok'), 'tok');
    assert.equal(csrfToken('MMUSERID=u1'), '');
    assert.equal(csrfToken(''), '');
});
