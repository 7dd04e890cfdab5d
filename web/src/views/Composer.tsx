// A message box: #post_textbox in the channel, #reply_textbox in a thread. Enter sends,
// Shift+Enter is a new line. Sending goes through the outbox, so a post made while the server
// is unreachable is retried with its pending_post_id and made once; what was typed is never
// lost (it comes back into the box if the server refuses the post).
//
// Each channel and each thread has its own draft (logic/drafts: kept when switching channels
// and across a reload) and its own attachments: files come from the paperclip
// (#fileUploadInput), a drop onto the channel or the thread pane, or a paste, and each uploads
// at once with its own progress bar, Cancel, and the server's error if it is refused. The post
// carries the finished files' ids; it waits while a file is still uploading, and a post of
// files alone, without text, is allowed.
//
// Other parts plug in through `composerExtensions` (set once at start-up): the typing
// notification, a mention autocomplete shown above the text, and Up to edit my last post.

import type { ComponentType } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { signal } from '@preact/signals';
import { errorMessage, pendingPostId } from '../api';
import { draftKey, drafts } from '../logic/drafts';
import { sendPost } from '../logic/outbox';
import {
    canSend, fileIdsOf, MAX_FILES_PER_POST, startUpload, Upload, updateUpload, uploading,
} from '../logic/uploads';
import { me, Post } from '../state';
import { FileIcon, UploadCard } from './PostFiles';

/// What the mention autocomplete (the posts helper's) is given: the text and caret of the box,
/// a way to replace them (when a name is picked), and a slot for its key handler, which the box
/// calls first on every keydown (Up, Down, Enter, Tab, Escape while the list is open): when it
/// returns true the key was the autocomplete's and the box does nothing more with it.
export type AutocompleteProps = {
    channelId: string;
    rootId?: string;
    text: string;
    caret: number;
    setText: (text: string, caret: number) => void;
    keys: { current: ((event: KeyboardEvent) => boolean) | null };
};

export const composerExtensions: {
    /// Called on each keystroke that changes the text (logic/typing's notifyTyping).
    notifyTyping?: (channelId: string, parentId: string) => void;
    /// Shown above the textarea.
    Autocomplete?: ComponentType<AutocompleteProps>;
    /// Up in an empty box: opens the edit of my last post in this channel (rootId empty) or
    /// thread; returns whether there was one to edit (then the key is taken).
    editLastPost?: (channelId: string, rootId: string) => boolean;
} = {};

type Props = {
    id: 'post_textbox' | 'reply_textbox';
    channelId: string;
    rootId?: string;
    placeholder: string;
    /// Called with the server's post once it is made.
    onSent?: (post: Post) => void;
};

/// Attachments of every draft (by draft key): an upload started in one channel keeps going,
/// and is still there, when the person switches away and back.
const attachments = signal<Map<string, Upload[]>>(new Map());
/// Local previews (blob: URLs) of attached images, by upload client id.
const localPreviews = new Map<string, string>();
/// The cancel of each upload in progress, by client id.
const cancels = new Map<string, () => void>();

function uploadsOf(key: string): Upload[] {
    return attachments.value.get(key) ?? [];
}

function setUploads(key: string, change: (uploads: Upload[]) => Upload[]) {
    const next = new Map(attachments.value);
    const changed = change(next.get(key) ?? []);
    if (changed.length > 0) {
        next.set(key, changed);
    } else {
        next.delete(key);
    }
    attachments.value = next;
}

function forgetUpload(clientId: string) {
    cancels.get(clientId)?.();
    cancels.delete(clientId);
    const preview = localPreviews.get(clientId);
    if (preview) {
        URL.revokeObjectURL(preview);
        localPreviews.delete(clientId);
    }
}

const newClientId = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;

/// Starts uploading `files` as attachments of the draft `key` in `channelId`; returns the
/// message to show when some could not be attached at all (too many).
function attachFiles(key: string, channelId: string, files: File[]): string {
    const room = MAX_FILES_PER_POST - uploadsOf(key).length;
    const taken = files.slice(0, Math.max(0, room));
    for (const file of taken) {
        const clientId = newClientId();
        if (/^image\/(png|jpeg|gif|webp|bmp)$/.test(file.type)) {
            localPreviews.set(clientId, URL.createObjectURL(file));
        }
        setUploads(key, (uploads) => [...uploads, { clientId, name: file.name || 'file', size: file.size, loaded: 0, state: 'uploading' }]);
        const cancel = startUpload(channelId, file, clientId, {
            onProgress: (loaded) => setUploads(key, (uploads) => updateUpload(uploads, clientId, (u) => ({ ...u, loaded }))),
            onDone: (info) => {
                cancels.delete(clientId);
                setUploads(key, (uploads) => updateUpload(uploads, clientId, (u) => ({ ...u, loaded: u.size, state: 'done', info })));
            },
            onError: (message) => {
                cancels.delete(clientId);
                setUploads(key, (uploads) => updateUpload(uploads, clientId, (u) => ({ ...u, state: 'failed', error: message })));
            },
        });
        cancels.set(clientId, cancel);
    }
    return taken.length < files.length
        ? `You can attach up to ${MAX_FILES_PER_POST} files to a post.`
        : '';
}

export function Composer({ id, channelId, rootId, placeholder, onSent }: Props) {
    const key = draftKey(me.value?.id ?? '', channelId, rootId);
    const [text, setText] = useState(() => drafts.get(key));
    const [caret, setCaret] = useState(0);
    const [error, setError] = useState('');
    const [dragging, setDragging] = useState(false);
    const box = useRef<HTMLTextAreaElement>(null);
    const wrapper = useRef<HTMLDivElement>(null);
    const fileInput = useRef<HTMLInputElement>(null);
    const autocompleteKeys = useRef<((event: KeyboardEvent) => boolean) | null>(null);
    // The handlers registered on the drop zone outlive renders; they read the current draft.
    const current = useRef({ key, channelId });
    current.current = { key, channelId };

    // Another channel or thread: its own draft, and the focus.
    useEffect(() => {
        setText(drafts.get(key));
        setError('');
        box.current?.focus();
    }, [key]);

    // The box grows with what is typed, up to a limit (then it scrolls).
    useEffect(() => {
        const area = box.current;
        if (area) {
            area.style.height = 'auto';
            area.style.height = `${Math.min(area.scrollHeight + 2, 300)}px`;
        }
    }, [text]);

    const uploads = uploadsOf(key);

    const attach = (files: File[]) => {
        if (files.length === 0) {
            return;
        }
        setError(attachFiles(current.current.key, current.current.channelId, files));
        box.current?.focus();
    };

    // Files dropped anywhere on the channel (for #post_textbox) or on the thread pane (for
    // #reply_textbox) attach to this box. (Attached as the box appears, so a drop right after
    // the pane opens is not lost.)
    useLayoutEffect(() => {
        const zone = wrapper.current?.closest('#rhsContainer') ?? wrapper.current?.closest('#channel_view');
        if (!zone) {
            return undefined;
        }
        const carriesFiles = (event: DragEvent) => Boolean(event.dataTransfer?.types?.includes('Files'));
        const over = (event: Event) => {
            const drag = event as DragEvent;
            if (carriesFiles(drag)) {
                drag.preventDefault();
                if (drag.dataTransfer) {
                    drag.dataTransfer.dropEffect = 'copy';
                }
                setDragging(true);
            }
        };
        const leave = (event: Event) => {
            const related = (event as DragEvent).relatedTarget as Node | null;
            if (!related || !zone.contains(related)) {
                setDragging(false);
            }
        };
        const drop = (event: Event) => {
            const drag = event as DragEvent;
            setDragging(false);
            if (drag.dataTransfer && drag.dataTransfer.files.length > 0) {
                drag.preventDefault();
                attach([...drag.dataTransfer.files]);
            }
        };
        zone.addEventListener('dragenter', over);
        zone.addEventListener('dragover', over);
        zone.addEventListener('dragleave', leave);
        zone.addEventListener('drop', drop);
        zone.classList.add('file-drop-zone');
        return () => {
            zone.removeEventListener('dragenter', over);
            zone.removeEventListener('dragover', over);
            zone.removeEventListener('dragleave', leave);
            zone.removeEventListener('drop', drop);
            zone.classList.remove('file-drop-zone', 'file-drop-active');
        };
    }, []);
    useEffect(() => {
        const zone = wrapper.current?.closest('#rhsContainer') ?? wrapper.current?.closest('#channel_view');
        zone?.classList.toggle('file-drop-active', dragging);
    }, [dragging]);

    const changeText = (value: string, at: number) => {
        setText(value);
        setCaret(at);
        drafts.set(key, value);
    };

    const send = async () => {
        if (!me.value) {
            return;
        }
        if (uploading(uploads)) {
            setError('Wait for the files to finish uploading, then send.');
            return;
        }
        if (!canSend(text, uploads)) {
            return;
        }
        const message = text.trim();
        const sentKey = key;
        const attached = uploads.filter((upload) => upload.state === 'done');
        const fileIds = fileIdsOf(attached);
        setText('');
        drafts.clear(sentKey);
        setUploads(sentKey, (all) => all.filter((upload) => upload.state === 'failed'));
        setError('');
        try {
            const created = await sendPost({
                id: '', create_at: Date.now(), user_id: me.value.id, channel_id: channelId,
                root_id: rootId ?? '', message, pending_post_id: pendingPostId(me.value.id),
                ...(fileIds.length > 0 ? { file_ids: fileIds } : {}),
            });
            for (const upload of attached) {
                forgetUpload(upload.clientId);
            }
            onSent?.(created);
        } catch (err) {
            // Refused: what was typed and attached comes back (unless something new was typed).
            if (!drafts.get(sentKey)) {
                drafts.set(sentKey, message);
                if (current.current.key === sentKey) {
                    setText(message);
                }
            }
            setUploads(sentKey, (all) => [...attached, ...all]);
            setError(errorMessage(err));
        }
    };

    const onKeyDown = (event: KeyboardEvent) => {
        if (autocompleteKeys.current?.(event)) {
            return;
        }
        if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
            event.preventDefault();
            send();
        } else if (event.key === 'ArrowUp' && text === '' && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey
            && composerExtensions.editLastPost?.(channelId, rootId ?? '')) {
            event.preventDefault();
        }
    };

    const onInput = (event: Event) => {
        const area = event.target as HTMLTextAreaElement;
        changeText(area.value, area.selectionStart ?? area.value.length);
        composerExtensions.notifyTyping?.(channelId, rootId ?? '');
    };

    const onPaste = (event: ClipboardEvent) => {
        const files = [...(event.clipboardData?.files ?? [])];
        if (files.length > 0) {
            event.preventDefault();
            attach(files);
        }
    };

    const remove = (upload: Upload) => {
        forgetUpload(upload.clientId);
        setUploads(key, (all) => all.filter((u) => u.clientId !== upload.clientId));
    };

    const Autocomplete = composerExtensions.Autocomplete;
    const busy = uploading(uploads);
    const ready = canSend(text, uploads);
    return (
        <div class="composer" id={id === 'post_textbox' ? 'centerChannelFooter' : undefined} ref={wrapper}>
            {error && <div class="error composer-error" role="alert">{error}</div>}
            {Autocomplete && (
                <Autocomplete channelId={channelId} rootId={rootId} text={text} caret={caret}
                    keys={autocompleteKeys}
                    setText={(value, at) => {
                        changeText(value, at);
                        requestAnimationFrame(() => box.current?.setSelectionRange(at, at));
                    }} />
            )}
            <div class="composer-box">
                {uploads.length > 0 && (
                    <div class="composer-uploads">
                        {uploads.map((upload) => (
                            <UploadCard key={upload.clientId} upload={upload} localPreview={localPreviews.get(upload.clientId)}
                                onRemove={() => remove(upload)} />
                        ))}
                    </div>
                )}
                <textarea id={id} rows={1} placeholder={placeholder} ref={box}
                    value={text} onInput={onInput} onKeyDown={onKeyDown} onPaste={onPaste}
                    onKeyUp={(e) => setCaret((e.target as HTMLTextAreaElement).selectionStart ?? 0)}
                    onClick={(e) => setCaret((e.target as HTMLTextAreaElement).selectionStart ?? 0)} />
                <div class="composer-toolbar">
                    <button type="button" class="icon-button attach-button" title="Attach files" aria-label="Attach files"
                        onClick={() => fileInput.current?.click()}>
                        <FileIcon kind="paperclip" />
                    </button>
                    <input id="fileUploadInput" type="file" multiple hidden ref={fileInput}
                        onChange={(e) => {
                            const input = e.target as HTMLInputElement;
                            attach([...(input.files ?? [])]);
                            input.value = '';
                        }} />
                    <span class="composer-hint muted">
                        {busy ? 'Uploading… the message can be sent when the files are up' : <><b>Enter</b> to send, <b>Shift+Enter</b> for a new line</>}
                    </span>
                    <button type="button" class={`send-button${ready ? ' ready' : ''}`} aria-label="Send Now"
                        data-testid="SendMessageButton" title="Send" disabled={!ready} onClick={() => send()}>
                        <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
                            <path fill="currentColor" d="M2.01 21 23 12 2.01 3 2 10l15 2-15 2z" />
                        </svg>
                    </button>
                </div>
            </div>
        </div>
    );
}
