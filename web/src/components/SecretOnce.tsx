import { useState } from 'react';

/** A secret the server shows only in its creation answer: shown once here, with a copy button. */
export function SecretOnce({
  title,
  secret,
  onDone,
}: {
  title: string;
  secret: string;
  onDone: () => void;
}) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="secret" role="status">
      <strong>{title}</strong>
      <p>Copy it now: it is not shown again.</p>
      <div className="secret-row">
        <code data-testid="secret">{secret}</code>
        <button
          type="button"
          onClick={() => {
            void navigator.clipboard?.writeText(secret).then(() => setCopied(true));
          }}
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
        <button type="button" onClick={onDone}>
          Done
        </button>
      </div>
    </div>
  );
}
