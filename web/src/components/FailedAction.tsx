import { errorText } from '../api/client';

// The server's reason, under a form or a row of buttons, when the action last tried failed.
export function FailedAction({ action }: { action: { isError: boolean; error: unknown } }) {
  if (!action.isError) {
    return null;
  }
  return (
    <p className="form-error" role="alert">
      {errorText(action.error)}
    </p>
  );
}
