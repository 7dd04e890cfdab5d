// The web client: a small router over the path, the session check, the websocket.

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { client, socket, websocketUrl } from './api';
import { me, navigate, path, Team } from './state';
import { Login } from './views/Login';
import { Layout } from './views/Layout';
import { Console } from './admin/Console';
import { installSessionGuard } from './logic/session';
import { Signup } from './views/Signup';
import { SelectTeam } from './views/SelectTeam';
import './style.css';

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
        return <Console section={console[1] ?? ''} />;
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
