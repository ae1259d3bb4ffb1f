import { Navigate, Route, Routes } from 'react-router';
import { Layout } from './components/Layout';
import { ErrorPanel, Loading } from './components/Status';
import { LiveProvider } from './live';
import { ApiTokensPage } from './pages/ApiTokensPage';
import { HealthPage } from './pages/HealthPage';
import { NodeDetailPage } from './pages/NodeDetailPage';
import { NodesPage } from './pages/NodesPage';
import { NodeTokensPage } from './pages/NodeTokensPage';
import { NotFoundPage } from './pages/NotFoundPage';
import { OverviewPage } from './pages/OverviewPage';
import { SignInPage } from './pages/SignInPage';
import { StoragePage } from './pages/StoragePage';
import { SubmitPage } from './pages/SubmitPage';
import { TaskDetailPage } from './pages/TaskDetailPage';
import { TasksPage } from './pages/TasksPage';
import { UsersPage } from './pages/UsersPage';
import { SESSION_RETRY_MS, useSession } from './session';

export function App() {
  const { state, recheck } = useSession();

  if (state.status === 'checking') {
    return (
      <div className="center-screen">
        <Loading what="Connecting to UniDesk" />
      </div>
    );
  }
  if (state.status === 'error') {
    return (
      <div className="center-screen">
        <ErrorPanel error={state.error} what="UniDesk" />
        <p className="muted">Trying again every {SESSION_RETRY_MS / 1000} seconds.</p>
        <button type="button" onClick={recheck}>
          Try now
        </button>
      </div>
    );
  }
  if (state.status === 'signed-out') {
    return <SignInPage notice={state.reason} />;
  }

  return (
    <LiveProvider>
      <Routes>
        <Route element={<Layout />}>
          <Route index element={<OverviewPage />} />
          <Route path="nodes" element={<NodesPage />} />
          <Route path="nodes/:name" element={<NodeDetailPage />} />
          <Route path="tasks" element={<TasksPage />} />
          <Route path="tasks/new" element={<SubmitPage />} />
          <Route path="tasks/:id" element={<TaskDetailPage />} />
          <Route path="storage" element={<StoragePage />} />
          {/* Not /health: that path is the server's own health answer. */}
          <Route path="status" element={<HealthPage />} />
          <Route path="admin/users" element={<UsersPage />} />
          <Route path="admin/tokens" element={<ApiTokensPage />} />
          <Route path="admin/node-tokens" element={<NodeTokensPage />} />
          <Route path="sign-in" element={<Navigate to="/" replace />} />
          <Route path="*" element={<NotFoundPage />} />
        </Route>
      </Routes>
    </LiveProvider>
  );
}
