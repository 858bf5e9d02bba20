// The look every page shares: system fonts, WCAG AA contrast (text #1d2330 on white, links
// #0b5394, muted #4a5468), visible focus rings, tables that read as tables.
import { css } from 'lit';

export const shared = css`
  :host {
    display: block;
    color: #1d2330;
    font: 15px/1.45 system-ui, 'DejaVu Sans', sans-serif;
  }
  h1 {
    font-size: 1.4rem;
    margin: 0 0 0.8rem;
  }
  h2 {
    font-size: 1.1rem;
    margin: 1.2rem 0 0.5rem;
  }
  a {
    color: #0b5394;
  }
  button,
  input,
  select,
  textarea {
    font: inherit;
    color: inherit;
  }
  button {
    background: #0b5394;
    color: #fff;
    border: 1px solid #0b5394;
    border-radius: 4px;
    padding: 0.3rem 0.8rem;
    cursor: pointer;
  }
  button.secondary {
    background: #fff;
    color: #0b5394;
  }
  button[aria-pressed='true'] {
    background: #7a2e00;
    border-color: #7a2e00;
    color: #fff;
  }
  button:disabled {
    opacity: 0.6;
    cursor: default;
  }
  :focus-visible {
    outline: 3px solid #d97706;
    outline-offset: 2px;
  }
  input,
  select,
  textarea {
    border: 1px solid #6b7280;
    border-radius: 4px;
    padding: 0.25rem 0.4rem;
    background: #fff;
  }
  label {
    display: inline-flex;
    flex-direction: column;
    font-size: 0.85rem;
    color: #4a5468;
    gap: 0.15rem;
  }
  table {
    border-collapse: collapse;
    width: 100%;
  }
  th,
  td {
    text-align: left;
    padding: 0.35rem 0.5rem;
    border-bottom: 1px solid #d7dbe3;
    vertical-align: top;
  }
  th {
    font-size: 0.8rem;
    text-transform: uppercase;
    letter-spacing: 0.03em;
    color: #4a5468;
  }
  .muted {
    color: #4a5468;
  }
  .error {
    color: #a11a1a;
    background: #fdecec;
    border: 1px solid #e6b3b3;
    border-radius: 4px;
    padding: 0.4rem 0.6rem;
  }
  mark {
    background: #ffe58a;
    color: inherit;
  }
  .row {
    display: flex;
    flex-wrap: wrap;
    gap: 0.6rem;
    align-items: flex-end;
  }
`;

export function duration(seconds: number | undefined | null): string {
  if (seconds == null || !isFinite(seconds)) return '';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

export function when(iso: string | undefined | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}
