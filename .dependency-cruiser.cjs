// Which folder of src/ may import which: each layer only from the layers below it, so the
// folder graph has no cycle by construction; and no cycle between files either.
// `npm run lint` runs this; a new import that breaks a rule fails it.
const LAYERS = [
  ['config'],
  ['common'],
  ['database', 'fhir', 'openapi', 'anonymization'],
  ['metadata'],
  ['auth'],
  ['search'],
  ['resources'],
  ['bulk-export'],
  ['admin', 'health'],
];

const layerRules = LAYERS.flatMap((layer, index) =>
  layer.map((folder) => {
    const notBelow = LAYERS.slice(index)
      .flat()
      .filter((other) => other !== folder);
    return {
      name: `layer-${folder}`,
      comment: `src/${folder} may import only from folders in layers below it: ${LAYERS.slice(0, index).flat().join(', ') || 'none'}`,
      severity: 'error',
      from: { path: `^src/${folder}/` },
      to: { path: `^src/(${notBelow.join('|')})/` },
    };
  }),
);

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'Files must not import each other in a circle.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'src-stands-alone',
      comment: 'The server does not import tests, scripts, the benchmark or the data generator.',
      severity: 'error',
      from: { path: '^src/', pathNot: '[.]spec[.]ts$' },
      to: { path: '^(test|scripts|bench|generator)/' },
    },
    {
      name: 'known-folders',
      comment: 'Every folder of src/ has its place in LAYERS (.dependency-cruiser.cjs).',
      severity: 'error',
      from: { path: '^src/[^/]+/', pathNot: `^src/(${LAYERS.flat().join('|')})/` },
      to: {},
    },
    {
      name: 'root-files-on-top',
      comment: 'The entry files in src/ (main, app and worker modules) compose the folders; no folder imports them.',
      severity: 'error',
      from: { path: '^src/[^/]+/' },
      to: { path: '^src/[^/]+[.]ts$' },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
