// Sign in with a local account's name and password. When the server answers CosignRequired
// (the role signs in four-eyes: portal.cosign_roles), the form asks for a second account of the
// same role, whose password co-signs the session.
import { LitElement, html, css } from 'lit';
import { api, ApiError, type Session } from './api';
import { shared } from './styles';

export class VbSignin extends LitElement {
  static properties = { error: { state: true }, cosign: { state: true }, busy: { state: true } };
  error = '';
  cosign = false;
  busy = false;

  static styles = [
    shared,
    css`
      form {
        max-width: 22rem;
        display: flex;
        flex-direction: column;
        gap: 0.7rem;
      }
      label {
        display: flex;
      }
      fieldset {
        border: 1px solid #d7dbe3;
        border-radius: 4px;
        display: flex;
        flex-direction: column;
        gap: 0.6rem;
      }
    `,
  ];

  private async submit(e: Event): Promise<void> {
    e.preventDefault();
    const f = new FormData(e.target as HTMLFormElement);
    const body: Record<string, unknown> = { name: f.get('name'), password: f.get('password') };
    if (this.cosign) body.cosigner = { name: f.get('cosigner'), password: f.get('cosignerPassword') };
    this.busy = true;
    try {
      const s = await api<Session>('POST', '/api/v1/session', body);
      this.dispatchEvent(new CustomEvent('signed-in', { detail: s, bubbles: true, composed: true }));
    } catch (err) {
      if (err instanceof ApiError && err.errorId === 'CosignRequired') this.cosign = true;
      this.error = err instanceof ApiError ? err.message : String(err);
    } finally {
      this.busy = false;
    }
  }

  render() {
    return html`<h1>Sign in</h1>
      <form @submit=${this.submit}>
        <label>Account <input name="name" autocomplete="username" required autofocus /></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
        ${this.cosign
          ? html`<fieldset>
              <legend>Second person (four-eyes sign-in)</legend>
              <label>Co-signer's account <input name="cosigner" autocomplete="off" required /></label>
              <label>Co-signer's password <input name="cosignerPassword" type="password" autocomplete="off" required /></label>
            </fieldset>`
          : ''}
        ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
        <button type="submit" ?disabled=${this.busy}>Sign in</button>
      </form>`;
  }
}
customElements.define('vb-signin', VbSignin);
