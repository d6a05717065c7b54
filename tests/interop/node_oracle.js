'use strict';
/*
 * Signing oracle backed by the official Amazon Pay Node SDK
 * (@amazonpay/amazon-pay-api-sdk-nodejs), for tests/interop and benchmarks/signing.py.
 *
 *   node node_oracle.js <path to node_modules/@amazonpay/amazon-pay-api-sdk-nodejs>
 *
 * Protocol: one JSON object per line on stdin, one JSON answer per line on stdout, in
 * order, for as long as stdin stays open (one node process serves a whole test session).
 * Every answer is {"ok": true, "result": ...} or {"ok": false, "error": "...", "stack": "..."}.
 *
 * Nothing here re-implements the SDK's signing. Requests are signed by the SDK's public
 * WebStoreClient methods (createCheckoutSession, getCharge, ...) or by its
 * getSignedHeaders()/generateButtonSignature() entry points; the oracle only
 *   - pins the clock (global Date is swapped for the duration of one call, so the SDK's
 *     own getTimestamp() produces the requested x-amz-pay-date),
 *   - replaces clientHelper.invokeApi (the network step, run after signing) with a stub
 *     that captures the signed options instead of sending them,
 *   - records what the SDK feeds to crypto.createHash()/crypto.createSign(): the hash
 *     input whose digest ends the string to sign is the SDK's canonical request, and the
 *     createSign() input is its string to sign.
 * The SDK's private sign() is reached for "sign_string" by compiling the SDK's own
 * clientHelper.js source once more with an extra export line appended.
 *
 * Commands ("cmd"):
 *   hello                                     -> versions, user agent the SDK sends
 *   sdk_call    {config, method, args, now_ms}
 *               calls new WebStoreClient(config)[method](...args) -> what was signed/sent
 *   signed_headers {config, options, now_ms}  -> same, through client.getSignedHeaders(options)
 *   sign_button {config, payload}             -> client.generateButtonSignature(payload)
 *   sign_string {config, message}             -> the SDK's internal sign(privateKey, message, algorithm)
 *   query_string {params}                     -> the SDK's internal getParametersAsString(params)
 *   verify      {public_key, algorithm, message, signature, salt_length?}
 *               crypto.verify RSA-PSS/SHA-256 with the SDK's salt length for the algorithm
 *   bench       {config, options, seconds, key_object?}
 *               times client.getSignedHeaders(options) in a loop (real clock, no recording)
 *   batch       {items: [command, ...]}       -> list of answers
 */

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const Module = require('module');
const readline = require('readline');

const sdkDir = process.argv[2];
if (!sdkDir) {
    process.stderr.write('usage: node node_oracle.js <sdk package dir>\n');
    process.exit(2);
}

const sdkPackage = JSON.parse(fs.readFileSync(path.join(sdkDir, 'package.json'), 'utf8'));
const sdk = require(sdkDir);                                   // src/client.js
const helper = require(path.join(sdkDir, 'src', 'clientHelper.js'));   // same instance client.js uses
const constants = require(path.join(sdkDir, 'src', 'constants.js'));
const { WebStoreClient } = sdk;

// The SDK's non-exported helpers, from a second compilation of its own source.
const internals = (function loadInternals() {
    const file = path.join(sdkDir, 'src', 'clientHelper.js');
    const wanted = ['sign', 'getAlgorithm', 'getTimestamp', 'getParametersAsString', 'isEnvSpecificPublicKeyId'];
    const source = fs.readFileSync(file, 'utf8') + '\n;module.exports.__oracleInternals = {'
        + wanted.map((name) => `${name}: (typeof ${name} === 'function' ? ${name} : undefined)`).join(', ') + '};\n';
    const mod = new Module(file, module);
    mod.filename = file;
    mod.paths = Module._nodeModulePaths(path.dirname(file));
    mod._compile(source, file);
    const found = mod.exports.__oracleInternals;
    for (const name of wanted) {
        if (typeof found[name] !== 'function') {
            throw new Error(`SDK ${sdkPackage.version}: clientHelper.js no longer defines ${name}()`);
        }
    }
    return found;
})();

// ---------------------------------------------------------------------------------------
// Instrumentation (installed only for the duration of one synchronous SDK call)

const RealDate = Date;

function withFixedNow(nowMs, fn) {
    if (nowMs === null || nowMs === undefined) return fn();
    class FixedDate extends RealDate {
        constructor(...args) {
            if (args.length === 0) super(nowMs); else super(...args);
        }
        static now() { return nowMs; }
    }
    global.Date = FixedDate;
    try {
        return fn();
    } finally {
        global.Date = RealDate;
    }
}

function asText(data) {
    if (typeof data === 'string') return data;
    return Buffer.from(data).toString('utf8');
}

function recordingCrypto(fn) {
    const hashed = [];
    const signed = [];
    const origHash = crypto.createHash;
    const origSign = crypto.createSign;
    crypto.createHash = function (algorithm, options) {
        const hash = origHash.call(crypto, algorithm, options);
        const update = hash.update;
        hash.update = function (data, encoding) {
            hashed.push({ algorithm: String(algorithm), data: asText(data) });
            return update.call(this, data, encoding);
        };
        return hash;
    };
    crypto.createSign = function (algorithm, options) {
        const signer = origSign.call(crypto, algorithm, options);
        const update = signer.update;
        signer.update = function (data, encoding) {
            signed.push({ algorithm: String(algorithm), data: asText(data) });
            return update.call(this, data, encoding);
        };
        return signer;
    };
    try {
        return { value: fn(), hashed, signed };
    } finally {
        crypto.createHash = origHash;
        crypto.createSign = origSign;
    }
}

function sha256Hex(text) {
    return crypto.createHash('sha256').update(text, 'utf8').digest('hex');
}

const AUTH_RE = /^(\S+) PublicKeyId=([^,]+), SignedHeaders=([^,]+), Signature=(\S+)$/;

function describeSigning(headers, recorded, extra) {
    const authorization = headers.authorization;
    const match = AUTH_RE.exec(authorization || '');
    if (!match) throw new Error(`SDK produced an unexpected authorization header: ${authorization}`);
    if (recorded.signed.length !== 1) {
        throw new Error(`expected one createSign() call, saw ${recorded.signed.length}`);
    }
    const stringToSign = recorded.signed[0].data;
    const digest = stringToSign.split('\n').pop();
    const canonical = recorded.hashed.find((h) => sha256Hex(h.data) === digest);
    if (!canonical) throw new Error('could not find the canonical request among the SDK hash inputs');
    const signedHeaders = {};
    for (const [name, value] of Object.entries(headers)) {
        if (name !== 'authorization') signedHeaders[name] = value;
    }
    return Object.assign({
        canonical_request: canonical.data,
        string_to_sign: stringToSign,
        authorization,
        algorithm: match[1],
        public_key_id: match[2],
        signed_headers: match[3].split(';'),
        signature: match[4],
        headers: signedHeaders,
    }, extra);
}

// ---------------------------------------------------------------------------------------
// Commands

const ALLOWED_METHODS = new Set([
    'createCheckoutSession', 'getCheckoutSession', 'updateCheckoutSession', 'completeCheckoutSession',
    'finalizeCheckoutSession', 'getChargePermission', 'updateChargePermission', 'closeChargePermission',
    'createCharge', 'getCharge', 'updateCharge', 'captureCharge', 'cancelCharge', 'createRefund', 'getRefund',
    'deliveryTrackers', 'getAuthorizationToken', 'getBuyer', 'getReports', 'getReportById',
    'getReportDocument', 'getReportSchedules', 'getReportScheduleById', 'createReport', 'createReportSchedule',
    'cancelReportSchedule',
]);

async function sdkCall(req) {
    if (!ALLOWED_METHODS.has(req.method) || typeof WebStoreClient.prototype[req.method] !== 'function') {
        throw new Error(`not an SDK WebStoreClient method: ${req.method}`);
    }
    const client = new WebStoreClient(req.config);
    let captured = null;
    const realInvokeApi = helper.invokeApi;
    helper.invokeApi = function (configArgs, options, maxRedirects) {
        captured = {
            method: options.method,
            urlFragment: options.urlFragment,
            queryParams: options.queryParams === undefined ? null : options.queryParams,
            payload: options.payload,
            headers: Object.assign({}, options.headers),
            url: `https://${configArgs.overrideServiceUrl || constants.API_ENDPOINTS[constants.REGION_MAP[configArgs.region.toLowerCase()]]}`
                + `/${options.urlFragment}`
                + (options.queryParams ? `?${internals.getParametersAsString(options.queryParams)}` : ''),
        };
        return Promise.resolve({ status: 200, headers: {}, data: {} });
    };
    let recorded;
    try {
        recorded = recordingCrypto(() => withFixedNow(req.now_ms, () => client[req.method](...(req.args || []))));
    } finally {
        helper.invokeApi = realInvokeApi;
    }
    await recorded.value;
    if (!captured) throw new Error(`${req.method} did not reach invokeApi`);
    return describeSigning(captured.headers, recorded, {
        method: captured.method,
        path: '/' + captured.urlFragment,
        query_params: captured.queryParams,
        query_string: captured.queryParams ? internals.getParametersAsString(captured.queryParams) : '',
        body: (captured.payload === undefined || captured.payload === null) ? '' : captured.payload,
        body_is_undefined: captured.payload === undefined,
        url: captured.url,
    });
}

function signedHeadersCall(req) {
    const client = new WebStoreClient(req.config);
    const options = Object.assign({}, req.options);
    const recorded = recordingCrypto(() => withFixedNow(req.now_ms, () => client.getSignedHeaders(options)));
    return describeSigning(recorded.value, recorded, {
        method: options.method,
        path: '/' + options.urlFragment,
        query_params: options.queryParams === undefined ? null : options.queryParams,
        query_string: options.queryParams ? internals.getParametersAsString(options.queryParams) : '',
        body: (options.payload === undefined || options.payload === null) ? '' : options.payload,
    });
}

function signButton(req) {
    const client = new WebStoreClient(req.config);
    const recorded = recordingCrypto(() => client.generateButtonSignature(req.payload));
    if (recorded.signed.length !== 1) throw new Error('expected one createSign() call');
    const stringToSign = recorded.signed[0].data;
    const digest = stringToSign.split('\n').pop();
    const payload = recorded.hashed.find((h) => sha256Hex(h.data) === digest);
    return {
        signature: recorded.value,
        string_to_sign: stringToSign,
        payload_json: payload ? payload.data : null,
    };
}

function signString(req) {
    const algorithm = internals.getAlgorithm(req.config.algorithm);
    return { signature: internals.sign(req.config.privateKey, req.message, algorithm), algorithm: algorithm.name };
}

function saltLengthFor(name) {
    for (const value of Object.values(constants.AMAZON_SIGNATURE_ALGORITHM)) {
        if (value.name === name) return value.saltLength;
    }
    throw new Error(`unknown algorithm ${name}`);
}

function verify(req) {
    const saltLength = req.salt_length === undefined || req.salt_length === null
        ? saltLengthFor(req.algorithm) : req.salt_length;
    const ok = crypto.verify(
        'sha256',
        Buffer.from(req.message, 'utf8'),
        { key: req.public_key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength },
        Buffer.from(req.signature, 'base64'),
    );
    return { valid: ok, salt_length: saltLength };
}

function bench(req) {
    const config = Object.assign({}, req.config);
    if (req.key_object) config.privateKey = crypto.createPrivateKey(config.privateKey);
    const client = new WebStoreClient(config);
    const template = req.options;
    const once = () => client.getSignedHeaders({
        method: template.method,
        urlFragment: template.urlFragment,
        payload: template.payload,
        headers: Object.assign({}, template.headers),
        queryParams: template.queryParams,
    });
    const sample = once();
    const warmupEnd = process.hrtime.bigint() + BigInt(Math.round((req.warmup_seconds ?? 0.3) * 1e9));
    while (process.hrtime.bigint() < warmupEnd) once();
    const budget = BigInt(Math.round(req.seconds * 1e9));
    const start = process.hrtime.bigint();
    let iterations = 0;
    let elapsed = 0n;
    do {
        once();
        iterations += 1;
        elapsed = process.hrtime.bigint() - start;
    } while (elapsed < budget);
    const seconds = Number(elapsed) / 1e9;
    return { iterations, seconds, per_second: iterations / seconds, sample_authorization: sample.authorization };
}

function hello() {
    return {
        sdk_name: sdkPackage.name,
        sdk_version: sdkPackage.version,
        sdk_constant_version: constants.SDK_VERSION,
        node_version: process.versions.node,
        node_openssl: process.versions.openssl,
        platform: process.platform,
        user_agent: `amazon-pay-api-sdk-nodejs/${constants.SDK_VERSION} (JS/${process.versions.node}; ${process.platform})`,
        algorithms: constants.AMAZON_SIGNATURE_ALGORITHM,
    };
}

async function dispatch(req) {
    switch (req.cmd) {
        case 'hello': return hello();
        case 'sdk_call': return sdkCall(req);
        case 'signed_headers': return signedHeadersCall(req);
        case 'sign_button': return signButton(req);
        case 'sign_string': return signString(req);
        case 'query_string': return { query_string: internals.getParametersAsString(req.params) };
        case 'verify': return verify(req);
        case 'bench': return bench(req);
        case 'batch': {
            const out = [];
            for (const item of req.items) out.push(await answer(item));
            return out;
        }
        default: throw new Error(`unknown command ${req.cmd}`);
    }
}

async function answer(req) {
    try {
        return { ok: true, result: await dispatch(req) };
    } catch (err) {
        return { ok: false, error: String(err && err.message ? err.message : err), stack: err && err.stack ? String(err.stack) : null };
    }
}

// Serve requests strictly one after another, in arrival order.
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
let chain = Promise.resolve();
rl.on('line', (line) => {
    if (!line.trim()) return;
    chain = chain.then(async () => {
        let req;
        try {
            req = JSON.parse(line);
        } catch (err) {
            process.stdout.write(JSON.stringify({ ok: false, error: `bad JSON: ${err.message}` }) + '\n');
            return;
        }
        process.stdout.write(JSON.stringify(await answer(req)) + '\n');
    });
});
rl.on('close', () => { chain.then(() => process.exit(0)); });
