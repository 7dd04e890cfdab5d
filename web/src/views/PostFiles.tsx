// A post's attachments: images as thumbnails (/files/{id}/thumbnail) that open the preview
// (FilePreview), other files as cards (an icon by kind, the name, the size) that download
// (/files/{id}?download=1). The file infos come with the post (metadata.files); a post that
// has file_ids but no metadata asks /posts/{id}/files/info. Also the cards of the files being
// attached in a message box (UploadCard).

import { useEffect, useState } from 'preact/hooks';
import { client } from '../api';
import { FileKind, fileKind, formatSize, progressOf, showsAsImage, Upload } from '../logic/uploads';
import type { FileInfo, Post } from '../state';
import { FilePreview } from './FilePreview';

/// File infos fetched for posts that came without them, by post id.
const fetched = new Map<string, FileInfo[]>();

export const fileUrl = (id: string) => `/api/v4/files/${encodeURIComponent(id)}`;
export const downloadUrl = (id: string) => `${fileUrl(id)}?download=1`;
export const thumbnailUrl = (id: string) => `${fileUrl(id)}/thumbnail`;
export const previewUrl = (id: string) => `${fileUrl(id)}/preview`;

const KIND_COLOURS: Record<FileKind | 'paperclip', string> = {
    image: '#2e9d6c', pdf: '#d24b4e', text: '#6b7280', code: '#5c6bc0', archive: '#a1662f', audio: '#c2185b',
    video: '#8e44ad', spreadsheet: '#1e8c45', presentation: '#e67e22', document: '#2f6fd1', other: '#6b7280',
    paperclip: 'currentColor',
};

const KIND_LABELS: Partial<Record<FileKind, string>> = {
    pdf: 'PDF', code: '</>', archive: 'ZIP', audio: '♪', video: '▶', spreadsheet: 'XLS', presentation: 'PPT', document: 'DOC', text: 'TXT',
};

/// An icon for a kind of file (a page with a coloured label), or the paperclip.
export function FileIcon({ kind }: { kind: FileKind | 'paperclip' }) {
    if (kind === 'paperclip') {
        return (
            <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
                <path fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"
                    d="M20.5 11.5 12 20a5 5 0 0 1-7.07-7.07l8.49-8.49a3.33 3.33 0 0 1 4.71 4.71l-8.49 8.49a1.67 1.67 0 0 1-2.36-2.36l7.78-7.78" />
            </svg>
        );
    }
    const colour = KIND_COLOURS[kind];
    return (
        <svg class="file-icon" viewBox="0 0 32 40" width="32" height="40" aria-hidden="true">
            <path d="M3 1h18l8 8v28a2 2 0 0 1-2 2H3a2 2 0 0 1-2-2V3a2 2 0 0 1 2-2z" fill="#fff" stroke={colour} stroke-width="2" />
            <path d="M21 1v8h8" fill="none" stroke={colour} stroke-width="2" />
            {kind === 'image'
                ? <path d="M7 31l6-8 4 5 3-3 5 6z" fill={colour} />
                : <text x="15" y="29" text-anchor="middle" font-size={(KIND_LABELS[kind] ?? '').length > 2 ? 8 : 10} font-weight="700"
                    font-family="system-ui, sans-serif" fill={colour}>{KIND_LABELS[kind] ?? ''}</text>}
        </svg>
    );
}

/// A file card: icon, name, size, and a download link.
function FileCard({ info }: { info: FileInfo }) {
    return (
        <div class="file-card" data-testid="fileAttachment">
            <FileIcon kind={fileKind(info.extension || info.name)} />
            <div class="file-card-text">
                <a class="file-name" href={downloadUrl(info.id)} download={info.name} title={info.name}>{info.name}</a>
                <span class="muted file-size">{(info.extension || '').toUpperCase()} {formatSize(info.size)}</span>
            </div>
            <a class="file-download icon-button" href={downloadUrl(info.id)} download={info.name} title={`Download ${info.name}`}
                aria-label={`Download ${info.name}`}>
                <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
                    <path fill="currentColor" d="M11 4h2v8.17l3.59-3.58L18 10l-6 6-6-6 1.41-1.41L11 12.17zM5 18h14v2H5z" />
                </svg>
            </a>
        </div>
    );
}

export function PostFiles({ post }: { post: Post }) {
    const given = post.metadata?.files;
    const wanted = post.file_ids ?? [];
    const [loaded, setLoaded] = useState<FileInfo[] | null>(() => fetched.get(post.id) ?? null);
    const [open, setOpen] = useState<number | null>(null);

    const needFetch = !post.delete_at && (!given || given.length === 0) && wanted.length > 0;
    useEffect(() => {
        if (!needFetch || fetched.has(post.id)) {
            return undefined;
        }
        let cancelled = false;
        client.getFileInfosForPost(post.id).then((infos: FileInfo[]) => {
            fetched.set(post.id, infos);
            if (!cancelled) {
                setLoaded(infos);
            }
        }).catch(() => {});
        return () => {
            cancelled = true;
        };
    }, [post.id, needFetch]);

    const files = given && given.length > 0 ? given : (needFetch ? loaded ?? [] : []);
    if (files.length === 0 || post.delete_at) {
        return null;
    }
    // In the order the post names them.
    const order = new Map(wanted.map((id, index) => [id, index]));
    const sorted = [...files].sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
    const images = sorted.filter(showsAsImage);
    const others = sorted.filter((info) => !showsAsImage(info));
    return (
        <div class="post-files">
            {images.length > 0 && (
                <div class="post-images">
                    {images.map((info, index) => (
                        <button type="button" key={info.id} class="file-thumbnail" data-testid="fileAttachmentThumbnail"
                            title={info.name} aria-label={`Open ${info.name}`} onClick={() => setOpen(index)}>
                            <img src={thumbnailUrl(info.id)} alt={info.name} loading="lazy" />
                        </button>
                    ))}
                </div>
            )}
            {others.map((info) => <FileCard key={info.id} info={info} />)}
            {open !== null && images[open] && (
                <FilePreview files={images} index={open} onIndex={setOpen} onClose={() => setOpen(null)} />
            )}
        </div>
    );
}

/// A file being attached in a message box: its preview or icon, name, a progress bar while it
/// uploads, the server's error if it was refused, and a button that cancels or removes it.
export function UploadCard({ upload, localPreview, onRemove }: { upload: Upload; localPreview?: string; onRemove: () => void }) {
    const percent = Math.round(progressOf(upload) * 100);
    const [unreadable, setUnreadable] = useState(false);
    return (
        <div class={`upload-card ${upload.state}`} data-testid="upload" data-state={upload.state} title={upload.name}>
            <div class="upload-thumb">
                {localPreview && !unreadable
                    ? <img src={localPreview} alt="" onError={() => setUnreadable(true)} />
                    : <FileIcon kind={fileKind(upload.name)} />}
            </div>
            <div class="upload-text">
                <span class="file-name">{upload.name}</span>
                {upload.state === 'uploading' && (
                    <>
                        <span class="muted file-size">Uploading {percent}% of {formatSize(upload.size)}</span>
                        <div class="upload-progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent}>
                            <div style={{ width: `${percent}%` }} />
                        </div>
                    </>
                )}
                {upload.state === 'done' && <span class="muted file-size">{formatSize(upload.size)}</span>}
                {upload.state === 'failed' && <span class="upload-error" role="alert">{upload.error}</span>}
            </div>
            <button type="button" class="upload-remove" onClick={onRemove}
                title={upload.state === 'uploading' ? 'Cancel upload' : 'Remove'}
                aria-label={upload.state === 'uploading' ? `Cancel uploading ${upload.name}` : `Remove ${upload.name}`}>×</button>
        </div>
    );
}
