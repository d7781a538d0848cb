// Builds the /react-demo page and the test-only broken variant with esbuild.
//
// - Imports of reference_app/static/*.js stay imports of /static/*.js (external): the page runs the very
//   sse-status-client.js the plain page runs, never a bundled copy of it.
// - React's development build, so <React.StrictMode> really mounts, unmounts and remounts every effect.
import * as esbuild from "esbuild";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const STATIC = path.resolve(here, "../../reference_app/static");

const servedStatic = {
  name: "served-static",
  setup(build) {
    build.onResolve({ filter: /\.js$/ }, (args) => {
      const target = path.resolve(args.resolveDir, args.path);
      if (path.dirname(target) !== STATIC) return undefined;
      return { path: `/static/${path.basename(target)}`, external: true };
    });
  },
};

const common = {
  bundle: true,
  format: "esm",
  target: "es2022",
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"development"' },
  sourcemap: "linked",
  legalComments: "none",
  logLevel: "warning",
  plugins: [servedStatic],
  absWorkingDir: here,
};

await esbuild.build({ ...common, entryPoints: { "react-demo": "demo/main.tsx" }, outdir: path.join(STATIC, "react") });
await esbuild.build({
  ...common,
  entryPoints: { "original-design-demo": "test-variants/original-design-demo.tsx" },
  outdir: path.join(here, "dist-test"),
});
console.log("react: built reference_app/static/react/react-demo.js and clients/react/dist-test/original-design-demo.js");
