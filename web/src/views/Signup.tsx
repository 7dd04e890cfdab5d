// /signup_user_complete: create an account (Mattermost's element ids: #input_email,
// #input_name, #input_password-input, #saveSetting), then log in and go on to a team (or to
// /select_team to create or join one). The first account on a new server is its system admin.

import { useState } from 'preact/hooks';
import { client, errorMessage } from '../api';
import { me, navigate } from '../state';

export function Signup() {
    const [email, setEmail] = useState('');
    const [username, setUsername] = useState('');
    const [password, setPassword] = useState('');
    const [error, setError] = useState('');
    const [busy, setBusy] = useState(false);

    const submit = async (event: Event) => {
        event.preventDefault();
        setBusy(true);
        setError('');
        try {
            await client.createUser({ email: email.trim(), username: username.trim().toLowerCase(), password } as any, '', '');
            me.value = await client.login(username.trim().toLowerCase(), password);
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
                <p class="muted">Let’s get started: create your account</p>
                {error && <div class="error" id="signup_error">{error}</div>}
                <label class="field-label" for="input_email">Email address</label>
                <input id="input_email" name="email" type="text" autoComplete="email" autoFocus
                    value={email} onInput={(e) => setEmail((e.target as HTMLInputElement).value)} />
                <label class="field-label" for="input_name">Choose a username</label>
                <input id="input_name" name="name" type="text" autoComplete="username"
                    value={username} onInput={(e) => setUsername((e.target as HTMLInputElement).value)} />
                <span class="field-hint">Lowercase letters, numbers, periods, dashes and underscores.</span>
                <label class="field-label" for="input_password-input">Choose a password</label>
                <input id="input_password-input" name="password-input" type="password" autoComplete="new-password"
                    value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
                <button id="saveSetting" type="submit" disabled={busy || !email || !username || !password}>
                    {busy ? 'Creating account…' : 'Create account'}
                </button>
                <p class="muted switch-link">Already have an account? <a href="/login" onClick={(e) => { e.preventDefault(); navigate('/login'); }}>Log in</a></p>
            </form>
        </div>
    );
}
