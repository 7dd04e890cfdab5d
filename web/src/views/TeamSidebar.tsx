// The teams I belong to, as a narrow column of initials; the current one highlighted, others
// marked when they have unread messages (a dot) or mentions (a count), and "+" to create or
// join a team (/select_team).

import { teamMarks } from '../logic/unreads';
import { currentTeam, navigate, teams, teamUnreads } from '../state';

/// "Team Alpha" → "TA", "Marketing" → "Ma".
export function teamInitials(name: string): string {
    const words = name.trim().split(/\s+/).filter(Boolean);
    if (words.length >= 2) {
        return (words[0][0] + words[1][0]).toUpperCase();
    }
    return (words[0] ?? '?').slice(0, 2);
}

export function TeamSidebar() {
    return (
        <nav class="team-sidebar" id="teamSidebarWrapper" aria-label="Teams">
            {teams.value.map((team) => {
                const current = team.id === currentTeam.value?.id;
                const marks = current ? { unread: false, mentions: 0 } : teamMarks(teamUnreads.value.get(team.id));
                return (
                    <div class="team-slot" key={team.id}>
                        {marks.unread && !marks.mentions && <span class="team-unread-dot" />}
                        <a href={`/${team.name}/channels/town-square`} title={team.display_name}
                            id={`${team.name}TeamButton`} data-testid="team-button"
                            aria-label={`${team.display_name}${marks.unread ? ', unread' : ''}`}
                            class={['team-button', current ? 'active' : '', marks.unread ? 'unread' : ''].filter(Boolean).join(' ')}
                            onClick={(e) => {
                                e.preventDefault();
                                navigate(`/${team.name}/channels/town-square`);
                            }}>
                            {teamInitials(team.display_name)}
                        </a>
                        {marks.mentions > 0 && <span class="badge team-badge">{marks.mentions}</span>}
                    </div>
                );
            })}
            <a href="/select_team" id="select_teamTeamButton" class="team-button add" title="Create or join a team"
                aria-label="Create or join a team"
                onClick={(e) => {
                    e.preventDefault();
                    navigate('/select_team');
                }}>+</a>
        </nav>
    );
}
