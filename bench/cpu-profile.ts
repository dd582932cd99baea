import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

export interface ProfileEntry {
  name: string;
  ms: number;
  /** Share of the busy (non-idle) samples, percent. */
  percent: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  busyMs: number;
  /** Self time grouped by where the code lives: a package, a file of ours, GC, native. */
  byOrigin: ProfileEntry[];
  /** Self time of the hottest functions. */
  topFunctions: ProfileEntry[];
}

/** Where a frame's code lives: `pg`, `src/bulk-export/...`, `node:internal`, `(garbage collector)`. */
function originOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const modules = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1];
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?([^/]+).*$/, 'node:$2');
  const ours = /\/dist\/(.*?)\.js$/.exec(url);
  return ours ? ours[1] : url;
}

/** Summarises a V8 `.cpuprofile` (what `node --cpu-prof` writes) by self time. */
export function summariseCpuProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const totalSamples =
    profile.samples?.length ?? profile.nodes.reduce((n, node) => n + (node.hitCount ?? 0), 0);
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  const msPerSample = totalSamples > 0 ? totalMs / totalSamples : 0;
  const byOrigin = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let busy = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (!hits) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    busy += hits;
    const origin = originOf(url, functionName);
    byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + hits);
    const name = `${functionName || '(anonymous)'} ${origin}${url ? `:${lineNumber + 1}` : ''}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + hits);
  }
  const entries = (map: Map<string, number>): ProfileEntry[] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, hits]) => ({
        name,
        ms: Math.round(hits * msPerSample),
        percent: busy ? Math.round((1000 * hits) / busy) / 10 : 0,
      }));
  return {
    file,
    totalMs: Math.round(totalMs),
    busyMs: Math.round(busy * msPerSample),
    byOrigin: entries(byOrigin),
    topFunctions: entries(byFunction),
  };
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node dist/bench/cpu-profile.js FILE.cpuprofile [TOP]\n');
    process.exitCode = 2;
  } else {
    process.stdout.write(
      `${JSON.stringify(summariseCpuProfile(file, Number(process.argv[3] ?? 15)), null, 2)}\n`,
    );
  }
}
