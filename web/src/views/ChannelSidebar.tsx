// #SidebarContainer: the current team's channels, each link #sidebarItem_{name}.

import { channels, currentTeam, navigate } from '../state';

type Props = { teamName: string; channelName: string };

export function ChannelSidebar({ teamName, channelName }: Props) {
    const list = [...channels.value.values()]
        .filter((c) => c.type === 'O' || c.type === 'P')
        .sort((a, b) => a.display_name.localeCompare(b.display_name));
    return (
        <nav id="SidebarContainer">
            <div class="team-name">{currentTeam.value?.display_name ?? teamName}</div>
            <ul>
                {list.map((c) => (
                    <li key={c.id}>
                        <a id={`sidebarItem_${c.name}`} href={`/${teamName}/channels/${c.name}`}
                            class={c.name === channelName ? 'active' : ''}
                            onClick={(e) => {
                                e.preventDefault();
                                navigate(`/${teamName}/channels/${c.name}`);
                            }}>
                            {c.type === 'P' ? '🔒 ' : '# '}{c.display_name}
                        </a>
                    </li>
                ))}
            </ul>
        </nav>
    );
}
