// The web client: a small router over the path, the session check, the websocket.

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { FunctionComponent } from 'preact';
import { client, socket, websocketUrl } from './api';
import { me, navigate, path, Team } from './state';
import { Login } from './views/Login';
import { Layout } from './views/Layout';
import { composerExtensions } from './views/Composer';
import { MentionAutocomplete } from './views/MentionAutocomplete';
import { notifyTyping } from './logic/typing';
import './style.css';

// The message box's plug-ins: typing notifications and @mention autocomplete.
composerExtensions.notifyTyping = notifyTyping;
composerExtensions.Autocomplete = MentionAutocomplete;

function Home() {
    const [message, setMessage] = useState('Loading…');
    useEffect(() => {
        client.getMyTeams().then((teams: Team[]) => {
            if (teams.length > 0) {
                navigate(`/${teams[0].name}/channels/town-square`, true);
            } else {
                setMessage('You are not a member of any team yet.');
            }
        }).catch(() => navigate('/login', true));
    }, []);
    return <div class="center muted">{message}</div>;
}

// The System Console is loaded when an admin opens it, so people who only chat never download it.
let consoleView: FunctionComponent<{ section: string }> | null = null;
function LazyConsole({ section }: { section: string }) {
    const [, setLoaded] = useState(false);
    useEffect(() => {
        if (!consoleView) {
            import('./admin/Console').then((module) => {
                consoleView = module.Console;
                setLoaded(true);
            });
        }
    }, []);
    const View = consoleView;
    return View ? <View section={section} /> : <div class="center muted">Loading…</div>;
}

function App() {
    const [checked, setChecked] = useState(false);
    useEffect(() => {
        client.getMe()
            .then((user: any) => { me.value = user; })
            .catch(() => { me.value = null; })
            .finally(() => setChecked(true));
    }, []);
    useEffect(() => {
        if (me.value) {
            socket.initialize(websocketUrl(), '');
        }
    }, [me.value?.id]);

    if (!checked) {
        return <div class="center muted">Loading…</div>;
    }
    const current = path.value;
    if (!me.value) {
        if (current !== '/login') {
            navigate('/login', true);
        }
        return <Login />;
    }
    const console = current.match(/^\/admin_console(?:\/(.*))?$/);
    if (console) {
        return <LazyConsole section={console[1] ?? ''} />;
    }
    const channel = current.match(/^\/([^/]+)\/channels\/([^/]+)\/?$/);
    if (channel) {
        return <Layout teamName={decodeURIComponent(channel[1])} channelName={decodeURIComponent(channel[2])} />;
    }
    return <Home />;
}

render(<App />, document.getElementById('root')!);
