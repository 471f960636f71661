/**
 * The signed-in identity's live feeds, held for the whole session (not per page), so an event that happens while
 * another page is open is not missed and each feed resumes from its last cursor after a reconnect:
 * - `taskChanged`: the latest version of every task an event named (the board overlays them on its query);
 * - `approvalRequested` (and approval events on tasks): a counter the approvals inbox refetches on.
 */
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { ApprovalRequestedDocument, TaskChangedDocument, type TaskCardFragment } from './__generated__/graphql';
import { useLive } from './app-context';
import { subscribeLive } from './client';

export interface LiveFeeds {
  tasks: Map<string, TaskCardFragment>;
  approvalsChanged: number;
  state: 'connecting' | 'live' | 'reconnecting';
}

const LiveFeedsContext = createContext<LiveFeeds>({ tasks: new Map(), approvalsChanged: 0, state: 'connecting' });
export const useLiveFeeds = () => useContext(LiveFeedsContext);

export function LiveFeedsProvider({ children }: { children: ReactNode }) {
  const live = useLive();
  const [tasks, setTasks] = useState<Map<string, TaskCardFragment>>(new Map());
  const [approvalsChanged, setApprovalsChanged] = useState(0);
  const [state, setState] = useState<LiveFeeds['state']>('connecting');

  useEffect(() => {
    const offs = [live.on('connected', () => setState('live')), live.on('closed', () => setState('reconnecting'))];
    const stopTasks = subscribeLive(
      live,
      TaskChangedDocument,
      { after: null },
      (d) => d.taskChanged.cursor,
      (d) => {
        setState('live');
        const { kind, task } = d.taskChanged;
        if (kind.startsWith('APPROVAL')) setApprovalsChanged((n) => n + 1);
        setTasks((m) => {
          const prev = m.get(task.id);
          return prev && prev.version > task.version ? m : new Map(m).set(task.id, task);
        });
      },
      () => setState('reconnecting'),
    );
    const stopApprovals = subscribeLive(
      live,
      ApprovalRequestedDocument,
      { after: null },
      () => undefined,
      () => setApprovalsChanged((n) => n + 1),
    );
    return () => {
      stopTasks();
      stopApprovals();
      offs.forEach((off) => off());
    };
  }, [live]);

  return <LiveFeedsContext.Provider value={{ tasks, approvalsChanged, state }}>{children}</LiveFeedsContext.Provider>;
}
