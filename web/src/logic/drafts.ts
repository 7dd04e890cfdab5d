// What is typed in a message box and not yet sent, one draft per channel and per thread: kept
// in memory (switching channels and back finds it) and in localStorage (a reload, or a crash of
// the tab, finds it too). Only the text goes to localStorage; attached files stay in memory.

type Storage = Pick<globalThis.Storage, 'getItem' | 'setItem' | 'removeItem'>;

const PREFIX = 'chorus.draft.';

/// The draft of a person's box in a channel (rootId empty) or in a thread. The person is part
/// of the key: someone else who logs in on the same browser does not find it.
export function draftKey(userId: string, channelId: string, rootId?: string): string {
    return rootId ? `${userId}:${channelId}:${rootId}` : `${userId}:${channelId}`;
}

export class Drafts {
    private memory = new Map<string, string>();

    constructor(private storage: Storage | null) {}

    get(key: string): string {
        const kept = this.memory.get(key);
        if (kept !== undefined) {
            return kept;
        }
        try {
            return this.storage?.getItem(PREFIX + key) ?? '';
        } catch {
            return '';
        }
    }

    set(key: string, text: string) {
        this.memory.set(key, text);
        try {
            if (text) {
                this.storage?.setItem(PREFIX + key, text);
            } else {
                this.storage?.removeItem(PREFIX + key);
            }
        } catch {
            // storage full or disabled: the draft still lives in memory
        }
    }

    clear(key: string) {
        this.set(key, '');
    }
}

function browserStorage(): Storage | null {
    try {
        return typeof localStorage === 'undefined' ? null : localStorage;
    } catch {
        return null;
    }
}

/// The page's drafts.
export const drafts = new Drafts(browserStorage());
