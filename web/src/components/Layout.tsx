import { NavLink, Outlet } from 'react-router';
import { hasRole, useSession, useUser } from '../session';
import { ZONE_LABEL } from '../time';
import { Banners } from './Banners';

function Item({ to, children, end }: { to: string; children: string; end?: boolean }) {
  return (
    <NavLink
      to={to}
      end={end}
      className={({ isActive }) => (isActive ? 'nav-item active' : 'nav-item')}
    >
      {children}
    </NavLink>
  );
}

export function Layout() {
  const user = useUser();
  const { signOut } = useSession();
  const admin = hasRole(user, 'admin');

  return (
    <div className="shell">
      <aside className="sidebar">
        <div className="brand">
          <span className="brand-mark" aria-hidden>
            U
          </span>
          UniDesk
        </div>
        <nav aria-label="Main">
          <Item to="/" end>
            Overview
          </Item>
          <Item to="/nodes">Nodes</Item>
          <Item to="/tasks" end>
            Tasks
          </Item>
          {hasRole(user, 'member') && <Item to="/tasks/new">Submit a task</Item>}
          <Item to="/storage">Storage</Item>
          <Item to="/status">Health</Item>
          <div className="nav-heading">Access</div>
          <Item to="/admin/tokens">API tokens</Item>
          {admin && <Item to="/admin/users">Users</Item>}
          {admin && <Item to="/admin/node-tokens">Node tokens</Item>}
        </nav>
        <div className="sidebar-foot">
          <div className="who" data-testid="who">
            <span className="who-name">{user.name}</span>
            <span className="who-role">{user.role}</span>
          </div>
          <button type="button" className="link-button" onClick={() => void signOut()}>
            Sign out
          </button>
          <div className="zone-note">Times are {ZONE_LABEL}</div>
        </div>
      </aside>
      <div className="main">
        <Banners />
        <main className="content">
          <Outlet />
        </main>
      </div>
    </div>
  );
}
