// /login, with the element ids of Mattermost's own page (its browser tests use them).

import { useState } from 'preact/hooks';
import { client, errorMessage } from '../api';
import { me, navigate } from '../state';

export function Login() {
    const [loginId, setLoginId] = useState('');
    const [password, setPassword] = useState('');
    const [error, setError] = useState('');
    const [busy, setBusy] = useState(false);

    const submit = async (event: Event) => {
        event.preventDefault();
        setBusy(true);
        setError('');
        try {
            me.value = await client.login(loginId.trim(), password);
            navigate('/', true);
        } catch (err) {
            setError(errorMessage(err));
        } finally {
            setBusy(false);
        }
    };

    return (
        <div class="login">
            <form class="login-box" onSubmit={submit}>
                <h1>Chorus</h1>
                <p class="muted">Log in to your team chat</p>
                {error && <div class="error" id="login_error">{error}</div>}
                <input id="input_loginId" type="text" autoComplete="username" autoFocus
                    placeholder="Email or username" value={loginId}
                    onInput={(e) => setLoginId((e.target as HTMLInputElement).value)} />
                <input id="input_password-input" type="password" autoComplete="current-password"
                    placeholder="Password" value={password}
                    onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
                <button id="saveSetting" type="submit" disabled={busy || !loginId || !password}>
                    {busy ? 'Logging in…' : 'Log in'}
                </button>
                <p class="muted switch-link">Don’t have an account? <a id="signup" href="/signup_user_complete"
                    onClick={(e) => { e.preventDefault(); navigate('/signup_user_complete'); }}>Create one</a></p>
            </form>
        </div>
    );
}
