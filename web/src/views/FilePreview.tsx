// The preview of a post's images over the page: the image (/files/{id}/preview), its name and
// size, a download link, and the post's other images with ← and →. Esc, the ×, or a click
// outside the image closes it.

import { useEffect } from 'preact/hooks';
import { formatSize } from '../logic/uploads';
import type { FileInfo } from '../state';

const downloadUrl = (id: string) => `/api/v4/files/${encodeURIComponent(id)}?download=1`;
const previewUrl = (id: string) => `/api/v4/files/${encodeURIComponent(id)}/preview`;

type Props = { files: FileInfo[]; index: number; onIndex: (index: number) => void; onClose: () => void };

export function FilePreview({ files, index, onIndex, onClose }: Props) {
    const info = files[index];
    useEffect(() => {
        const onKey = (event: KeyboardEvent) => {
            if (event.key === 'Escape') {
                event.preventDefault();
                event.stopPropagation();
                onClose();
            } else if (event.key === 'ArrowLeft' && index > 0) {
                onIndex(index - 1);
            } else if (event.key === 'ArrowRight' && index < files.length - 1) {
                onIndex(index + 1);
            }
        };
        document.addEventListener('keydown', onKey, true);
        return () => document.removeEventListener('keydown', onKey, true);
    }, [index, files.length]);
    if (!info) {
        return null;
    }
    return (
        <div id="file-preview" class="file-preview-modal" role="dialog" aria-modal="true" aria-label={info.name}
            onClick={(event) => {
                if (event.target === event.currentTarget) {
                    onClose();
                }
            }}>
            <div class="file-preview-header">
                <div class="file-preview-title">
                    <span class="file-name">{info.name}</span>
                    <span class="file-preview-meta">
                        {formatSize(info.size)}{info.width && info.height ? ` · ${info.width}×${info.height}` : ''}
                        {files.length > 1 ? ` · ${index + 1} of ${files.length}` : ''}
                    </span>
                </div>
                <a class="file-preview-download" href={downloadUrl(info.id)} download={info.name}>Download</a>
                <button type="button" class="file-preview-close" aria-label="Close" title="Close (Esc)" onClick={onClose}>×</button>
            </div>
            <div class="file-preview-body" onClick={(event) => {
                if (event.target === event.currentTarget) {
                    onClose();
                }
            }}>
                {index > 0 && (
                    <button type="button" class="file-preview-nav prev" aria-label="Previous" onClick={() => onIndex(index - 1)}>‹</button>
                )}
                <img class="file-preview-image" key={info.id} src={previewUrl(info.id)} alt={info.name} />
                {index < files.length - 1 && (
                    <button type="button" class="file-preview-nav next" aria-label="Next" onClick={() => onIndex(index + 1)}>›</button>
                )}
            </div>
        </div>
    );
}
