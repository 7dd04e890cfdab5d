// The teams I belong to, as a narrow column of initials; the current one highlighted.

import { currentTeam, navigate, teams } from '../state';

export function TeamSidebar() {
    if (teams.value.length < 2) {
        return null;
    }
    return (
        <nav class="team-sidebar" aria-label="Teams">
            {teams.value.map((team) => (
                <a key={team.id} href={`/${team.name}/channels/town-square`} title={team.display_name}
                    class={team.id === currentTeam.value?.id ? 'team-button active' : 'team-button'}
                    onClick={(e) => {
                        e.preventDefault();
                        navigate(`/${team.name}/channels/town-square`);
                    }}>
                    {team.display_name.slice(0, 2)}
                </a>
            ))}
        </nav>
    );
}
