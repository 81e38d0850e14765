// Builds the dashboard into the hub package's git-ignored static folder, served at /dashboard/.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { defineConfig } from "vite";

const OUT_DIR = fileURLToPath(new URL("../src/citytally/hub/dashboard/static", import.meta.url));

/** Next to every script and stylesheet, its brotli (.br) and gzip (.gz) forms: the hub sends whichever
 * the browser accepts, compressed once here instead of on every request. */
function precompress() {
  return {
    name: "citytally-precompress",
    apply: "build",
    closeBundle() {
      const assets = join(OUT_DIR, "assets");
      for (const name of readdirSync(assets)) {
        if (!/\.(js|css|svg)$/.test(name)) continue;
        const body = readFileSync(join(assets, name));
        writeFileSync(join(assets, `${name}.gz`), gzipSync(body, { level: 9 }));
        writeFileSync(join(assets, `${name}.br`), brotliCompressSync(body, {
          params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: body.length },
        }));
      }
    },
  };
}

export default defineConfig({
  base: "/dashboard/",
  plugins: [precompress()],
  build: {
    outDir: OUT_DIR,
    emptyOutDir: true,
    chunkSizeWarningLimit: 600,
    sourcemap: false, // no public source map: the sources are in the repository
  },
});
