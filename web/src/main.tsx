// The web client: a small router over the path, the session check, the websocket.

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { client, socket, websocketUrl } from './api';
import { me, navigate, path, Team } from './state';
import { Login } from './views/Login';
import { Layout } from './views/Layout';
import { Console } from './admin/Console';
import './style.css';

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
        return <Console section={console[1] ?? ''} />;
    }
    const channel = current.match(/^\/([^/]+)\/channels\/([^/]+)\/?$/);
    if (channel) {
        return <Layout teamName={decodeURIComponent(channel[1])} channelName={decodeURIComponent(channel[2])} />;
    }
    return <Home />;
}

render(<App />, document.getElementById('root')!);
