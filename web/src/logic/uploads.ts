// File attachments on their way into a post: one XMLHttpRequest per file (fetch cannot report
// upload progress) to POST /api/v4/files, the state of each upload as the composer shows it,
// and the small pure helpers around them (sizes, icons, the error a failed upload shows).
// Everything here but `startUpload` is pure and tested in tests/unit/uploads.test.ts.

import type { FileInfo } from '../state';

/// One file attached to a draft: uploading (with its progress), done (with the server's file
/// info), or failed (with the server's message).
export type Upload = {
    clientId: string;
    name: string;
    size: number;
    loaded: number;
    state: 'uploading' | 'done' | 'failed';
    error?: string;
    info?: FileInfo;
};

/// Most files one post may carry (Mattermost's web app allows 10).
export const MAX_FILES_PER_POST = 10;

/// Whether any attachment is still on its way (the post waits for it).
export function uploading(uploads: Upload[]): boolean {
    return uploads.some((upload) => upload.state === 'uploading');
}

/// The ids of the finished uploads, in the order they were attached.
export function fileIdsOf(uploads: Upload[]): string[] {
    return uploads.filter((upload) => upload.state === 'done' && upload.info).map((upload) => upload.info!.id);
}

/// Whether the composer can send now: something to send (text, or at least one finished file)
/// and nothing still uploading.
export function canSend(message: string, uploads: Upload[]): boolean {
    if (uploading(uploads)) {
        return false;
    }
    return message.trim().length > 0 || fileIdsOf(uploads).length > 0;
}

/// Replaces the upload with `clientId` by `change(it)`; the others stay as they are.
export function updateUpload(uploads: Upload[], clientId: string, change: (upload: Upload) => Upload): Upload[] {
    return uploads.map((upload) => (upload.clientId === clientId ? change(upload) : upload));
}

/// A progress fraction, 0..1.
export function progressOf(upload: Upload): number {
    if (upload.state === 'done') {
        return 1;
    }
    return upload.size > 0 ? Math.min(1, upload.loaded / upload.size) : 0;
}

/// "532 B", "12.4 KB", "3.1 MB" (binary units, as Mattermost shows sizes).
export function formatSize(bytes: number): string {
    if (bytes < 1024) {
        return `${bytes} B`;
    }
    const units = ['KB', 'MB', 'GB', 'TB'];
    let value = bytes / 1024;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
        value /= 1024;
        unit++;
    }
    return `${value >= 100 ? Math.round(value) : value.toFixed(1).replace(/\.0$/, '')} ${units[unit]}`;
}

export type FileKind = 'image' | 'pdf' | 'text' | 'code' | 'archive' | 'audio' | 'video' | 'spreadsheet'
    | 'presentation' | 'document' | 'other';

const KINDS: Record<string, FileKind> = {
    png: 'image', jpg: 'image', jpeg: 'image', gif: 'image', bmp: 'image', webp: 'image', svg: 'image', tif: 'image', tiff: 'image', heic: 'image',
    pdf: 'pdf',
    txt: 'text', md: 'text', log: 'text', rtf: 'text',
    js: 'code', ts: 'code', tsx: 'code', jsx: 'code', rs: 'code', go: 'code', py: 'code', java: 'code', c: 'code', h: 'code',
    cpp: 'code', cs: 'code', rb: 'code', php: 'code', sh: 'code', json: 'code', yaml: 'code', yml: 'code', toml: 'code',
    xml: 'code', html: 'code', css: 'code', sql: 'code',
    zip: 'archive', gz: 'archive', tgz: 'archive', tar: 'archive', bz2: 'archive', xz: 'archive', '7z': 'archive', rar: 'archive',
    mp3: 'audio', wav: 'audio', ogg: 'audio', flac: 'audio', m4a: 'audio',
    mp4: 'video', mov: 'video', avi: 'video', mkv: 'video', webm: 'video', mpeg: 'video',
    xls: 'spreadsheet', xlsx: 'spreadsheet', csv: 'spreadsheet', ods: 'spreadsheet',
    ppt: 'presentation', pptx: 'presentation', odp: 'presentation', key: 'presentation',
    doc: 'document', docx: 'document', odt: 'document', pages: 'document',
};

/// What kind of file a name or extension is (for its icon).
export function fileKind(nameOrExtension: string): FileKind {
    const dot = nameOrExtension.lastIndexOf('.');
    const extension = (dot >= 0 ? nameOrExtension.slice(dot + 1) : nameOrExtension).toLowerCase();
    return KINDS[extension] ?? 'other';
}

/// Whether a file is shown as an image (a thumbnail that opens the preview): the server made
/// a thumbnail and a preview for it. An image it could not read shows as a file card.
export function showsAsImage(info: FileInfo): boolean {
    return Boolean(info.has_preview_image);
}

/// The message a failed upload shows: the server's own (a Mattermost error's `message`), or,
/// for an answer that is not the server's JSON (NGINX's own 413 or 502 page), what it means.
export function uploadErrorMessage(status: number, body: string): string {
    try {
        const parsed = JSON.parse(body);
        if (parsed && typeof parsed.message === 'string' && parsed.message) {
            return parsed.message;
        }
    } catch {
        // not JSON: the proxy's page, or nothing at all
    }
    if (status === 0) {
        return 'The upload failed: the server could not be reached.';
    }
    if (status === 413) {
        return 'The file is too large to upload (the server refused it: 413 Request Entity Too Large).';
    }
    if (status >= 500) {
        return `The upload failed: the server answered ${status}. Please try again.`;
    }
    return `The upload failed (${status}).`;
}

/// The session's CSRF token (Mattermost's MMCSRF cookie), which every write must carry.
export function csrfToken(cookie: string): string {
    for (const part of cookie.split(';')) {
        const trimmed = part.trim();
        if (trimmed.startsWith('MMCSRF=')) {
            return trimmed.slice('MMCSRF='.length);
        }
    }
    return '';
}

export type UploadCallbacks = {
    onProgress: (loaded: number, total: number) => void;
    onDone: (info: FileInfo) => void;
    onError: (message: string) => void;
};

/// Uploads one file into `channelId` as multipart (channel_id, then client_ids, then files, the
/// order the server reads them in), with the session's cookies and CSRF token, as Client4 does.
/// Returns the cancel.
export function startUpload(channelId: string, file: File, clientId: string, callbacks: UploadCallbacks): () => void {
    const form = new FormData();
    form.append('channel_id', channelId);
    form.append('client_ids', clientId);
    form.append('files', file, file.name);

    const xhr = new XMLHttpRequest();
    let finished = false;
    xhr.open('POST', `${window.location.origin}/api/v4/files`);
    xhr.withCredentials = true;
    xhr.setRequestHeader('X-Requested-With', 'XMLHttpRequest');
    const token = csrfToken(document.cookie);
    if (token) {
        xhr.setRequestHeader('X-CSRF-Token', token);
    }
    xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) {
            callbacks.onProgress(Math.min(event.loaded, file.size), file.size);
        }
    };
    xhr.onload = () => {
        finished = true;
        if (xhr.status >= 200 && xhr.status < 300) {
            try {
                const answer = JSON.parse(xhr.responseText) as { file_infos: FileInfo[]; client_ids?: string[] };
                const index = Math.max(0, answer.client_ids?.indexOf(clientId) ?? 0);
                const info = answer.file_infos[index] ?? answer.file_infos[0];
                if (info) {
                    callbacks.onDone(info);
                    return;
                }
            } catch {
                // falls through to the error below
            }
            callbacks.onError('The server’s answer to the upload could not be read.');
            return;
        }
        callbacks.onError(uploadErrorMessage(xhr.status, xhr.responseText));
    };
    xhr.onerror = () => {
        finished = true;
        callbacks.onError(uploadErrorMessage(0, ''));
    };
    xhr.send(form);
    return () => {
        if (!finished) {
            finished = true;
            xhr.abort();
        }
    };
}
