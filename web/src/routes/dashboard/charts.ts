// The dashboard's chart definitions from one analytics answer: the series
// shaped into chart buckets, the table alternative into hours or days, the
// summary that labels each plot. Messages through t(), numbers through
// format.ts, so both follow the language.
import { formatTokens, type Locale } from '../../lib/format';
import { t, type MessageKey } from '../../lib/i18n/index.svelte';
import type { ChartDef, ChartSeries, Tone } from './Chart.svelte';
import { axisLabel, chartStep, formatSpend, offsetSeconds, peak, shape, sum, tableStep, timeFormatter, type Point, type Range, type Shaped } from './logic';

export type ChartKind = 'requests' | 'errors' | 'tokens' | 'spend';

interface Part {
  key: keyof Omit<Shaped, 'x'>;
  label: MessageKey;
  tone: Tone;
}

const parts: Record<ChartKind, Part[]> = {
  requests: [{ key: 'requests', label: 'dash.series.requests', tone: 'c1' }],
  errors: [{ key: 'errors', label: 'dash.series.errors', tone: 'err' }],
  tokens: [
    { key: 'prompt', label: 'dash.series.prompt', tone: 'c1' },
    { key: 'completion', label: 'dash.series.completion', tone: 'c2' },
  ],
  spend: [{ key: 'spend', label: 'dash.series.spend', tone: 'c1' }],
};

const titles: Record<ChartKind, MessageKey> = {
  requests: 'dash.chart.requests',
  errors: 'dash.chart.errors',
  tokens: 'dash.chart.tokens',
  spend: 'dash.chart.spend',
};

export function chartDefs(prefix: string, kinds: ChartKind[], points: readonly Point[], r: Range, locale: Locale): ChartDef[] {
  const off = offsetSeconds();
  const s = shape(points, chartStep(r), off);
  const rowsShaped = shape(points, tableStep(r), off);
  const rowTime = r === '24h' ? timeFormatter('7d', locale, 'point') : timeFormatter(r, locale, 'row');
  const pointTime = timeFormatter(r, locale, 'point');
  const axisTime = axisLabel(r, locale);
  const rangeText = t(`dash.range_long.${r}` as MessageKey);
  return kinds.map((kind) => {
    const fmt = kind === 'spend' ? (n: number) => formatSpend(n, locale) : (n: number) => formatTokens(n, locale);
    const series: ChartSeries[] = parts[kind].map((p) => ({ label: t(p.label), values: s[p.key], tone: p.tone }));
    const combined = s.x.map((_, i) => parts[kind].reduce((a, p) => a + s[p.key][i], 0));
    const total = sum(combined);
    const top = peak(s.x, combined);
    const title = t(titles[kind]);
    const summary =
      total > 0
        ? t('dash.chart.summary', { title, range: rangeText, total: fmt(total), peak: fmt(top.value), at: pointTime(top.at) })
        : t('dash.chart.summary_empty', { title, range: rangeText });
    return {
      id: `${prefix}-${kind}`,
      title,
      x: s.x,
      series,
      fmt,
      axisTime,
      pointTime,
      summary,
      rows: rowsShaped.x.map((x, i) => ({ label: rowTime(x), values: parts[kind].map((p) => rowsShaped[p.key][i]) })),
    };
  });
}
