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
import { installSessionGuard } from './logic/session';
import { Signup } from './views/Signup';
import { SelectTeam } from './views/SelectTeam';
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
                navigate('/select_team', true);
            }
        }).catch(() => setMessage('Could not reach the server. Reload to try again.'));
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
installSessionGuard();

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
        if (current === '/signup_user_complete') {
            return <Signup />;
        }
        if (current !== '/login') {
            navigate('/login', true);
        }
        return <Login />;
    }
    if (current === '/login' || current === '/signup_user_complete') {
        navigate('/', true);
        return <Home />;
    }
    if (current === '/select_team' || current === '/create_team') {
        return <SelectTeam />;
    }
    const console = current.match(/^\/admin_console(?:\/(.*))?$/);
    if (console) {
        return <LazyConsole section={console[1] ?? ''} />;
    }
    const channel = current.match(/^\/([^/]+)\/channels\/([^/]+)\/?$/);
    if (channel) {
        return <Layout teamName={decodeURIComponent(channel[1])} channelName={decodeURIComponent(channel[2])} />;
    }
    const messages = current.match(/^\/([^/]+)\/messages\/([^/]+)\/?$/);
    if (messages) {
        const target = decodeURIComponent(messages[2]);
        return target.startsWith('@')
            ? <Layout teamName={decodeURIComponent(messages[1])} directUsername={target.slice(1)} />
            : <Layout teamName={decodeURIComponent(messages[1])} channelName={target} />;
    }
    const permalink = current.match(/^\/([^/]+)\/pl\/([a-z0-9]+)\/?$/);
    if (permalink) {
        return <Layout teamName={decodeURIComponent(permalink[1])} postId={permalink[2]} />;
    }
    return <Home />;
}

render(<App />, document.getElementById('root')!);
