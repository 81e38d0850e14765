// Builds the dashboard into the hub package's git-ignored static folder, served at /dashboard/.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  base: "/dashboard/",
  build: {
    outDir: fileURLToPath(new URL("../src/citytally/hub/dashboard/static", import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 600,
    sourcemap: false, // no public source map: the sources are in the repository
  },
});
