// /select_team: the teams I can join (open teams I am not in), and creating a new team. Reached
// from the team sidebar's "+" and when I belong to no team yet.

import { useEffect, useState } from 'preact/hooks';
import { client, errorMessage } from '../api';
import { channelUrlName } from '../logic/unreads';
import { me, navigate, Team, teams } from '../state';
import { UserMenu } from './HeaderBar';
import { teamInitials } from './TeamSidebar';

/// Every team I may see, page by page (a server can have more than one page of teams).
async function allTeams(): Promise<Team[]> {
    const PER_PAGE = 200;
    const teams: Team[] = [];
    for (let page = 0; page < 25; page++) {
        const answer: any = await client.getTeams(page, PER_PAGE);
        const list: Team[] = Array.isArray(answer) ? answer : answer.teams ?? [];
        teams.push(...list);
        if (list.length < PER_PAGE) {
            break;
        }
    }
    return teams;
}

export function SelectTeam() {
    const [joinable, setJoinable] = useState<Team[] | null>(null);
    const [mine, setMine] = useState<Team[]>([]);
    const [error, setError] = useState('');
    const [displayName, setDisplayName] = useState('');
    const [name, setName] = useState('');
    const [nameEdited, setNameEdited] = useState(false);
    const [busy, setBusy] = useState(false);
    const [filter, setFilter] = useState('');

    useEffect(() => {
        Promise.all([client.getMyTeams(), allTeams()]).then(([my, list]: [Team[], Team[]]) => {
            const ids = new Set(my.map((t) => t.id));
            setMine(my);
            teams.value = my;
            setJoinable(list.filter((t: any) => !ids.has(t.id) && !t.delete_at && (t.type === 'O' || t.allow_open_invite))
                .sort((a, b) => a.display_name.localeCompare(b.display_name)));
        }).catch((err) => setError(errorMessage(err)));
    }, []);

    const join = async (team: Team) => {
        setBusy(true);
        setError('');
        try {
            await client.addToTeam(team.id, me.value!.id);
            navigate(`/${team.name}/channels/town-square`);
        } catch (err) {
            setError(errorMessage(err));
        } finally {
            setBusy(false);
        }
    };

    const create = async (event: Event) => {
        event.preventDefault();
        setBusy(true);
        setError('');
        try {
            const team: Team = await client.createTeam({ name: name || channelUrlName(displayName), display_name: displayName.trim(), type: 'O' } as any);
            navigate(`/${team.name}/channels/town-square`);
        } catch (err) {
            setError(errorMessage(err));
        } finally {
            setBusy(false);
        }
    };

    return (
        <div class="select-team">
            <div class="select-team-top">
                <span class="brand">Chorus</span>
                <UserMenu />
            </div>
            <div class="select-team-box">
                {mine.length > 0 && (
                    <p><a href="/" onClick={(e) => { e.preventDefault(); navigate(`/${mine[0].name}/channels/town-square`); }}>← Back to {mine[0].display_name}</a></p>
                )}
                {mine.length === 0 && <h2 id="noTeams">You are not a member of any team yet</h2>}
                {error && <div class="error" id="select_team_error">{error}</div>}
                <h3>Teams you can join</h3>
                {joinable !== null && joinable.length > 8 && (
                    <input id="teamSearch" class="modal-search team-search" type="search" placeholder="Find a team"
                        value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
                )}
                {joinable === null ? <div class="muted">Loading…</div>
                    : joinable.length === 0 ? <div class="muted" id="noJoinableTeams">There are no other open teams to join.</div>
                        : (
                            <ul class="team-list" id="teamsYouCanJoinContent">
                                {joinable.filter((team) => !filter.trim() || team.display_name.toLowerCase().includes(filter.trim().toLowerCase())
                                    || team.name.includes(filter.trim().toLowerCase())).map((team) => (
                                    <li key={team.id}>
                                        <span class="team-icon">{teamInitials(team.display_name)}</span>
                                        <span class="team-list-name">{team.display_name}</span>
                                        <button class="btn" id={`joinTeam_${team.name}`} disabled={busy} onClick={() => join(team)}>Join</button>
                                    </li>
                                ))}
                            </ul>
                        )}
                <h3>Create a team</h3>
                <form class="create-team" onSubmit={create}>
                    <label class="field-label" for="teamNameInput">Team name</label>
                    <input id="teamNameInput" type="text" placeholder="e.g. Marketing" value={displayName}
                        onInput={(e) => {
                            const value = (e.target as HTMLInputElement).value;
                            setDisplayName(value);
                            if (!nameEdited) {
                                setName(channelUrlName(value));
                            }
                        }} />
                    <label class="field-label" for="teamURLInput">Team URL</label>
                    <div class="url-input"><span class="muted">{window.location.host}/</span>
                        <input id="teamURLInput" type="text" value={name}
                            onInput={(e) => { setNameEdited(true); setName((e.target as HTMLInputElement).value); }} /></div>
                    <button class="btn primary" id="createTeamButton" type="submit" disabled={busy || !displayName.trim()}>Create team</button>
                </form>
            </div>
        </div>
    );
}
