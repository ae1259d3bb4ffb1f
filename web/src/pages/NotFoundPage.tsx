import { Link } from 'react-router';
import { useTitle } from '../title';

export function NotFoundPage() {
  useTitle('Not found');
  return (
    <div className="page">
      <h1>Page not found</h1>
      <p>
        There is nothing at this address. <Link to="/">Back to the overview</Link>.
      </p>
    </div>
  );
}
