// Calls to oculi from the page: the Rekognition JSON API at POST /, the native endpoints,
// and the console's own data routes, signed with the key in sessionStorage when the
// server has keys.
import { canSign, sign } from "./sigv4.js";

const STORE = "oculi.credentials";
export const authMode = () => document.body.dataset.auth; // "keys" or "none"

export class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

export function credentials() {
  const raw = sessionStorage.getItem(STORE);
  return raw ? JSON.parse(raw) : null;
}

export function saveCredentials(c) {
  sessionStorage.setItem(STORE, JSON.stringify(c));
}

export function signOut() {
  sessionStorage.removeItem(STORE);
}

async function send(method, path, query, headers, body, service) {
  const qs = new URLSearchParams(query || {}).toString().replace(/\+/g, "%20");
  const url = path + (qs ? "?" + qs : "");
  let sent = headers;
  if (authMode() === "keys") {
    const c = credentials();
    if (!c) throw new ApiError("SignInRequired", "Sign in with an access key first.", 0);
    if (!canSign()) {
      throw new ApiError("InsecurePage", "This browser cannot sign requests on a page that is not served over HTTPS or from localhost.", 0);
    }
    sent = await sign({
      method, host: location.host, path, query: query || {}, headers, body, service,
      region: c.region || "us-east-1", accessKey: c.accessKeyId, secret: c.secret,
    });
  }
  let response;
  try {
    response = await fetch(url, { method, headers: sent, body: method === "GET" ? undefined : body, credentials: "omit" });
  } catch (e) {
    throw new ApiError("NetworkError", "oculi could not be reached: is the server still running?", 0);
  }
  if (!response.ok) {
    let code = response.headers.get("x-amzn-ErrorType") || "HTTP" + response.status;
    let message = response.statusText;
    try {
      const doc = await response.json();
      code = doc.__type || code;
      message = doc.Message || doc.message || message;
    } catch (e) { /* not JSON */ }
    throw new ApiError(code.split(":")[0], message, response.status);
  }
  return response;
}

// A Rekognition operation: { data, notice } (notice: the x-oculi-notice header).
export async function rekognition(operation, params) {
  const body = JSON.stringify(params || {});
  const headers = {
    "content-type": "application/x-amz-json-1.1",
    "x-amz-target": "RekognitionService." + operation,
  };
  const response = await send("POST", "/", null, headers, body, "rekognition");
  return { data: await response.json(), notice: response.headers.get("x-oculi-notice") };
}

// A native endpoint (POST /oculi/redact, /oculi/plates) with an image body: the Response.
export async function native(path, query, bytes, contentType) {
  return send("POST", path, query, { "content-type": contentType || "application/octet-stream" }, bytes, "oculi");
}

// A console data route (GET /oculi/console/...): the Response.
export async function consoleGet(path, query) {
  return send("GET", "/oculi/console/" + path, query, {}, "", "oculi");
}

export async function consoleJson(path, query) {
  return (await consoleGet(path, query)).json();
}

// What went wrong, in words a person understands (the code and message stay visible).
const EXPLAIN = {
  InvalidSignatureException: "The secret access key does not match this access key id (or the clock of this computer is off by more than 15 minutes).",
  SignatureDoesNotMatch: "The secret access key does not match this access key id.",
  UnrecognizedClientException: "oculi does not know this access key id.",
  MissingAuthenticationTokenException: "This server needs an access key: sign in first.",
  ExpiredTokenException: "This access key has expired.",
  AccessDeniedException: "This access key is not allowed to do that.",
  InvalidImageFormatException: "That file is not a photo oculi can read (JPEG or PNG).",
  ImageTooLargeException: "That photo is too large (at most 5 MB for the API; 15 MB for redaction).",
  InvalidParameterException: "oculi refused a value in the request.",
  ResourceNotFoundException: "That does not exist (any more).",
  ResourceAlreadyExistsException: "That name is already taken.",
  InvalidS3ObjectException: "oculi could not read that S3 object: check the bucket and the key (oculi reads S3 with its own configuration).",
  VideoTooLargeException: "That video is too large (at most 10 GB).",
  LimitExceededException: "oculi has as many jobs in progress as it allows; wait for one to end.",
  ThrottlingException: "oculi is busy; try again in a moment.",
  ProvisionedThroughputExceededException: "oculi is busy; try again in a moment.",
  RequestTimeoutException: "The upload was too slow and oculi gave up waiting.",
  InternalServerError: "oculi failed while doing this; the server log has the details.",
  NetworkError: "oculi could not be reached.",
  SignInRequired: "Sign in first.",
  InsecurePage: "Open the console over HTTPS or from localhost to sign in.",
};

export function explain(error) {
  if (!(error instanceof ApiError)) return { title: "Something went wrong in the page", detail: String(error) };
  const title = EXPLAIN[error.code] || (error.status === 0 ? error.message : "oculi refused the request.");
  return { title, detail: `${error.code}: ${error.message}` };
}
