import { useEffect } from 'react';

/** Names the browser tab after the page: `Tasks · UniDesk`. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · UniDesk` : 'UniDesk';
  }, [title]);
}
