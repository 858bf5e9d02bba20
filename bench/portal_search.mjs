// The portal's search in Chromium at archive scale: run by bench/portal_search.py, which starts
// `verbatim serve` on a large archive and passes in PORTAL_FACTS {url, officer, queries}, the
// queries being bench_search's mix ({kind, params}). Signs in once, then for each query sets the
// search page's address (what the form's Search button and a saved search do) and times it, in
// the page, to the frame that shows the results. Each query runs twice (the second pass is warm). Prints one
// JSON line per query: {pass, kind, ms (browser, action to results listed), fetchMs (the page's
// own measure of the REST call), listed}.
import { facts, launch, close, open, signIn } from '../web/tests/browser.mjs';

await launch();
try {
  const page = await open();
  await signIn(page, facts.officer);
  await page.goto(`${facts.url}/#/search`);
  await page.getByRole('searchbox', { name: /Participant/ }).waitFor();
  const results = page.locator('section[aria-label="Results"]');
  let last = '';
  for (const pass of ['first', 'warm']) {
    for (const q of facts.queries) {
      const hash = '#/search?' + new URLSearchParams(q.params).toString();
      if (hash === last) continue;  // the same address twice would not search again
      last = hash;
      const answered = page.waitForResponse((r) => r.url().includes('/api/v1/recordings?'), { timeout: 60000 });
      // Timed in the page: from setting the address to the frame after the results section stops
      // being busy (Lit sets aria-busy only when it changes: true while the search runs).
      const ms = await page.evaluate(async (h) => {
        const find = (root) => {
          const s = root.querySelector('section[aria-label="Results"]');
          if (s) return s;
          for (const el of root.querySelectorAll('*')) {
            const r = el.shadowRoot && find(el.shadowRoot);
            if (r) return r;
          }
          return null;
        };
        const section = find(document);
        const t = performance.now();
        await new Promise((resolve, reject) => {
          setTimeout(() => reject(new Error('no results within 60 s')), 60000);
          const seen = new MutationObserver(() => {
            if (section.getAttribute('aria-busy') !== 'false') return;
            seen.disconnect();
            requestAnimationFrame(() => resolve());
          });
          seen.observe(section, { attributes: true, attributeFilter: ['aria-busy'] });
          location.hash = h;
        });
        return performance.now() - t;
      }, hash);
      const response = await answered;
      const status = (await results.getByRole('status').textContent()) ?? '';
      const m = /(\d+) recordings?[^,]*,\s*(\d+) ms/.exec(status.replace(/\s+/g, ' '));
      console.log(
        JSON.stringify({
          pass,
          kind: q.kind,
          ms: Math.round(ms * 10) / 10,
          fetchMs: m ? Number(m[2]) : null,
          listed: m ? Number(m[1]) : null,
          status: response.status(),
        }),
      );
    }
  }
  await page.context().close();
} finally {
  await close();
}
