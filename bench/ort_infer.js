// ort_infer.js — bench/run's ONNX Runtime column: runs an NCHW ONNX classifier (fovea export
// --nchw) in onnxruntime-node (found through NODE_PATH) on the images of an IDX file, scaled by
// 1/255 as `fovea predict` scales them, in batches, with a given number of intra-op threads, and
// prints one JSON line: session load seconds, inference seconds (every batch, from the first
// input tensor made to the last output read), images, and top-1 accuracy against an IDX label
// file.
// usage: node bench/ort_infer.js MODEL.onnx IMAGES.idx[.gz] LABELS.idx[.gz] THREADS BATCH
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const ort = require('onnxruntime-node');

// An IDX file (gzip or not): its dims and its uint8 data.
function readIdx(path) {
    let b = fs.readFileSync(path);
    if (b[0] === 0x1f && b[1] === 0x8b) b = zlib.gunzipSync(b);
    if (b[0] !== 0 || b[1] !== 0 || b[2] !== 8) throw new Error(`${path}: not a uint8 IDX file`);
    const rank = b[3];
    const dims = [];
    for (let i = 0; i < rank; i++) dims.push(b.readUInt32BE(4 + 4 * i));
    const count = dims.reduce((a, d) => a * d, 1);
    const off = 4 + 4 * rank;
    if (b.length !== off + count) throw new Error(`${path}: ${b.length} bytes for dims ${dims}`);
    return { dims, data: b.subarray(off) };
}

async function main() {
    const [model, images, labels, threads, batch] = process.argv.slice(2);
    if (!batch) {
        throw new Error('usage: node ort_infer.js MODEL.onnx IMAGES LABELS THREADS BATCH');
    }
    const x = readIdx(images), y = readIdx(labels);
    const [n, h, w] = x.dims;
    const per = h * w, bs = Number(batch);
    if (x.dims.length !== 3 || y.dims[0] !== n) throw new Error('expected N x H x W images and N labels');
    const t0 = process.hrtime.bigint();
    const session = await ort.InferenceSession.create(model, {
        intraOpNumThreads: Number(threads), interOpNumThreads: 1, executionMode: 'sequential',
        graphOptimizationLevel: 'all',
    });
    const t1 = process.hrtime.bigint();
    const input = session.inputNames[0], output = session.outputNames[0];
    let right = 0;
    for (let s = 0; s < n; s += bs) {
        const m = Math.min(bs, n - s);
        const f = new Float32Array(m * per);
        for (let i = 0; i < m * per; i++) f[i] = x.data[s * per + i] / 255;
        const out = (await session.run({ [input]: new ort.Tensor('float32', f, [m, 1, h, w]) }))[output];
        const k = out.dims[1];
        for (let i = 0; i < m; i++) {
            let best = 0;
            for (let c = 1; c < k; c++) if (out.data[i * k + c] > out.data[i * k + best]) best = c;
            if (best === y.data[s + i]) right++;
        }
    }
    const t2 = process.hrtime.bigint();
    console.log(JSON.stringify({
        load_seconds: Number(t1 - t0) * 1e-9, infer_seconds: Number(t2 - t1) * 1e-9, images: n,
        accuracy: right / n, ort_version: require('onnxruntime-node/package.json').version,
    }));
}

main().catch((e) => {
    console.error(`ort_infer.js: ${e.message}`);
    process.exit(1);
});
