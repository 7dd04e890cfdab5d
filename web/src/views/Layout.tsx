// The chat screen for /{team}/channels/{channel}: teams on the far left, the team's channels
// (#SidebarContainer), the channel (#channel_view), and the right-hand pane (a thread or search
// results, #rhsContainer). Loads what the sidebars show and keeps it live.

import { useEffect, useState } from 'preact/hooks';
import { client, errorMessage, subscribe } from '../api';
import {
    Channel, ChannelMember, channels, currentChannelId, currentTeam, myMembers, rightPane, Team, teams,
} from '../state';
import { ChannelSidebar } from './ChannelSidebar';
import { ChannelView } from './ChannelView';
import { ReconnectBanner } from './ReconnectBanner';
import { RightPane } from './RightPane';
import { TeamSidebar } from './TeamSidebar';

type Props = { teamName: string; channelName: string };

async function loadTeam(teamName: string): Promise<void> {
    const [team, mine, myChannels, members]: [Team, Team[], Channel[], ChannelMember[]] = await (async () => {
        const found: Team = await client.getTeamByName(teamName);
        return Promise.all([
            found, client.getMyTeams(), client.getMyChannels(found.id), client.getMyChannelMembers(found.id),
        ]);
    })();
    teams.value = mine;
    currentTeam.value = team;
    channels.value = new Map(myChannels.map((channel) => [channel.id, channel]));
    myMembers.value = new Map(members.map((member) => [member.channel_id, member]));
}

export function Layout({ teamName, channelName }: Props) {
    const [error, setError] = useState('');

    useEffect(() => {
        setError('');
        loadTeam(teamName).catch((err) => setError(errorMessage(err)));
    }, [teamName]);

    // After a reconnect that could not resume, what the sidebars show is fetched again.
    useEffect(() => subscribe({
        onResync: () => {
            loadTeam(teamName).catch(() => {});
        },
    }), [teamName]);

    const team = currentTeam.value;
    const ready = team !== null && team.name === teamName;
    useEffect(() => {
        if (!ready) {
            return;
        }
        const channel = [...channels.value.values()].find((c) => c.name === channelName);
        currentChannelId.value = channel?.id ?? null;
    }, [ready, channelName, channels.value]);

    return (
        <div class="app">
            <ReconnectBanner />
            <TeamSidebar />
            <ChannelSidebar teamName={teamName} channelName={channelName} />
            {error ? <main id="channel_view"><div class="error">{error}</div></main>
                : <ChannelView teamName={teamName} channelName={channelName} />}
            {rightPane.value && <RightPane />}
        </div>
    );
}
