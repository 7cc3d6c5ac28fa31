/*
 * rife_shim.c - a tiny VapourSynth (API v4) plugin that makes core.rife.RIFE
 * exist in every script and forwards the call to the Python implementation
 * (vsrife.filter.RIFE) running in the same process.
 *
 * VapourSynth has no Python plugin API, so the handshake is:
 *   1. rife.RIFE(clip, **kw) is invoked on core C (from Python or any host).
 *   2. The shim finds the Python C API with dlsym (it never links libpython),
 *      takes the GIL and calls vsrife.vsplugin.register(token).
 *   3. register() calls core.rife.ShimRegister(func=<python callable>, token=token)
 *      on the current Python environment's core; the VapourSynth Python module
 *      wraps the callable as a VSFunction bound to that environment, and
 *      ShimRegister (C) stores it in the handshake pending on this thread when the
 *      token matches, together with the core it was invoked on.
 *   4. Back in rife.RIFE the GIL is released, the function is checked to come from
 *      core C, and it is called with the original argument map. Its error, its
 *      {"error": msg} or its {"clip": node} is copied to the output map, and the
 *      function is freed.
 *
 * No VSFunction outlives the call, so no reference keeps a core alive, and the
 * handshake is per thread and per call (nested calls are fine). If the Python
 * environment's core is not C (a host calling rife.RIFE outside its script, or a
 * second copy of this library), nothing matches and the call fails clearly; if no
 * environment is active at all (a host calling after evaluating its script through
 * VSScript), register() returns the message to report.
 *
 * Errors: the callable's error text is passed on untouched. VapourSynth R81 marks a
 * BaseException that escaped a Python callable with "[VS_PY_EXC_ID:n]" and re-raises
 * the original object (KeyboardInterrupt, SystemExit) in the calling script when it
 * sees the marker, so the text must not be rewritten.
 *
 * Shutdown: a thread that takes the GIL after Python started finalizing is ended
 * with pthread_exit, whose forced unwinding through VapourSynth's C++ frames calls
 * std::terminate (abort, exit 134). Checking Py_IsFinalizing first races, so
 * vsplugin registers an atexit handler (it runs before finalization starts, while
 * other threads still run normally) that calls vsrife_shim_close(): from then on
 * new calls are refused without touching Python, and the handler waits (GIL
 * released) until calls already in flight have returned.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "VapourSynth4.h"

#define SHIM_ID "com.vsrife.rife"
#define SHIM_NS "rife"

#define ERR_NO_PYTHON                                                                          \
    "rife: RIFE needs a Python host (vspipe, a .vpy script or Python). This process has no "  \
    "initialized Python interpreter, so the PyTorch implementation cannot run here. Use "     \
    "vsrife.RIFE from Python or run the script with vspipe."

#define ERR_SHUTDOWN                                                                           \
    "rife: RIFE was called while Python is shutting down (from a daemon thread at interpreter " \
    "exit?); the call is refused because Python can no longer run it safely. Join the thread "  \
    "before the script ends."

#define ERR_OTHER_CORE                                                                          \
    "rife: RIFE was called on a core that is not the core of the current VapourSynth Python "   \
    "environment (by a host, outside its script?), so it cannot reach vsrife's Python "        \
    "implementation. Call it from the script itself, or use vsrife.RIFE from Python."

/* ---------------------------------------------------------------------------
 * Python C API, looked up at run time.
 * ------------------------------------------------------------------------- */

typedef struct _object PyObject;

typedef struct PyApi {
    int (*Py_IsInitialized)(void);
    int (*Py_IsFinalizing)(void); /* optional: Py_IsFinalizing (3.13+) or _Py_IsFinalizing */
    int (*PyGILState_Check)(void); /* optional */
    int (*PyGILState_Ensure)(void); /* returns the PyGILState_STATE enum */
    void (*PyGILState_Release)(int);
    PyObject *(*PyImport_ImportModule)(const char *);
    PyObject *(*PyObject_GetAttrString)(PyObject *, const char *);
    PyObject *(*PyObject_CallFunctionObjArgs)(PyObject *, ...);
    PyObject *(*PyLong_FromLongLong)(long long);
    PyObject *(*PyUnicode_FromString)(const char *);
    PyObject *(*PyObject_Str)(PyObject *);
    const char *(*PyUnicode_AsUTF8)(PyObject *);
    PyObject *(*PyErr_Occurred)(void);
    void (*PyErr_Fetch)(PyObject **, PyObject **, PyObject **);
    void (*PyErr_NormalizeException)(PyObject **, PyObject **, PyObject **);
    void (*PyErr_Clear)(void);
    void (*Py_DecRef)(PyObject *); /* NULL-safe, like Py_XDECREF */
} PyApi;

/* Remembers the path of a loaded libpython3*; dlopen is not called under dl_iterate_phdr's lock. */
static int find_libpython_cb(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    const char *name = info->dlpi_name;
    if (!name || !*name)
        return 0;
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (strncmp(base, "libpython3", 10) != 0 || strlen(name) >= 4096)
        return 0;
    strcpy((char *)data, name);
    return 1;
}

static void *lookup(void *handle, const char *name) {
    return dlsym(handle ? handle : RTLD_DEFAULT, name);
}

/* Returns 1 when every required symbol was found. */
static int load_python_api(PyApi *py) {
    void *handle = NULL; /* NULL = RTLD_DEFAULT */
    memset(py, 0, sizeof(*py));
    if (!dlsym(RTLD_DEFAULT, "Py_IsInitialized")) {
        /* libpython may have been loaded RTLD_LOCAL by an embedding host: get a handle to it
         * (RTLD_NOLOAD never loads anything new). */
        char path[4096] = "";
        dl_iterate_phdr(find_libpython_cb, path);
        handle = *path ? dlopen(path, RTLD_LAZY | RTLD_NOLOAD) : NULL;
        if (!handle)
            return 0;
    }
#define LOAD(sym)                                            \
    do {                                                     \
        *(void **)(&py->sym) = lookup(handle, #sym);         \
        if (!py->sym)                                        \
            return 0;                                        \
    } while (0)
    LOAD(Py_IsInitialized);
    LOAD(PyGILState_Ensure);
    LOAD(PyGILState_Release);
    LOAD(PyImport_ImportModule);
    LOAD(PyObject_GetAttrString);
    LOAD(PyObject_CallFunctionObjArgs);
    LOAD(PyLong_FromLongLong);
    LOAD(PyUnicode_FromString);
    LOAD(PyObject_Str);
    LOAD(PyUnicode_AsUTF8);
    LOAD(PyErr_Occurred);
    LOAD(PyErr_Fetch);
    LOAD(PyErr_NormalizeException);
    LOAD(PyErr_Clear);
    LOAD(Py_DecRef);
#undef LOAD
    *(void **)(&py->Py_IsFinalizing) = lookup(handle, "Py_IsFinalizing");
    if (!py->Py_IsFinalizing)
        *(void **)(&py->Py_IsFinalizing) = lookup(handle, "_Py_IsFinalizing");
    *(void **)(&py->PyGILState_Check) = lookup(handle, "PyGILState_Check");
    /* The handle (if any) is deliberately kept: libpython stays loaded anyway. */
    return 1;
}

/* Formats the pending Python exception as "Type: message" into buf and clears it.
 * Must hold the GIL. */
static void format_python_error(const PyApi *py, char *buf, size_t size) {
    PyObject *type = NULL, *value = NULL, *tb = NULL;
    const char *tname = "unknown error", *msg = "";
    PyObject *tname_obj = NULL, *msg_obj = NULL;

    py->PyErr_Fetch(&type, &value, &tb);
    if (type) {
        py->PyErr_NormalizeException(&type, &value, &tb);
        tname_obj = py->PyObject_GetAttrString(type, "__name__");
        if (tname_obj) {
            const char *s = py->PyUnicode_AsUTF8(tname_obj);
            if (s)
                tname = s;
        }
        if (value) {
            msg_obj = py->PyObject_Str(value);
            if (msg_obj) {
                const char *s = py->PyUnicode_AsUTF8(msg_obj);
                if (s)
                    msg = s;
            }
        }
    }
    snprintf(buf, size, "%s%s%s", tname, *msg ? ": " : "", msg);
    if (py->PyErr_Occurred())
        py->PyErr_Clear(); /* errors raised while formatting */
    py->Py_DecRef(msg_obj);
    py->Py_DecRef(tname_obj);
    py->Py_DecRef(type);
    py->Py_DecRef(value);
    py->Py_DecRef(tb);
}

/* ---------------------------------------------------------------------------
 * Shutdown: refuse new calls once Python is about to finalize.
 * ------------------------------------------------------------------------- */

static atomic_int closing = 0;  /* set once by vsrife_shim_close(); never cleared */
static atomic_int inflight = 0; /* rife.RIFE calls between entry and return */

#define SHIM_EXPORT __attribute__((visibility("default")))

static atomic_int armed = 0;   /* the atexit handler is registered */

/* Called at interpreter exit by the atexit handler (through ctypes, so without the GIL): refuses new
 * calls and waits up to timeout_ms for the calls in flight to return. Returns how many still are. */
SHIM_EXPORT int vsrife_shim_close(int timeout_ms) {
    atomic_store(&closing, 1);
    struct timespec step = {0, 2 * 1000 * 1000};
    for (int waited = 0; atomic_load(&inflight) > 0 && waited < timeout_ms; waited += 2)
        nanosleep(&step, NULL);
    int left = atomic_load(&inflight);
    if (left)
        fprintf(stderr,
                "rife: %d core.rife.RIFE call(s) still running in other threads %d s after interpreter exit "
                "began; the process may abort\n",
                left, timeout_ms / 1000);
    return left;
}

SHIM_EXPORT int vsrife_shim_closed(void) {
    return atomic_load(&closing);
}

/* ---------------------------------------------------------------------------
 * The per-thread handshake slot filled by ShimRegister.
 * ------------------------------------------------------------------------- */

typedef struct Handshake {
    int64_t token;      /* identifies this call; never dereferenced */
    VSCore *core;       /* core that rife.RIFE was invoked on */
    VSFunction *func;   /* owned reference, set by ShimRegister */
    VSCore *func_core;  /* core that ShimRegister was invoked on */
} Handshake;

static _Thread_local Handshake *pending = NULL;

static void VS_CC registerCallback(const VSMap *in, VSMap *out, void *userData, VSCore *core, const VSAPI *vsapi) {
    (void)userData;
    int err = 0;
    int64_t token = vsapi->mapGetInt(in, "token", 0, &err);
    if (err) {
        vsapi->mapSetError(out, "rife.ShimRegister is internal to vsrife: call rife.RIFE instead");
        return;
    }
    Handshake *hs = pending;
    if (!hs || hs->token != token) {
        /* Not the rife.RIFE call pending on this thread in this copy of the library: it was invoked on
         * another core. Leave the handshake empty; rife.RIFE reports it. */
        return;
    }
    VSFunction *func = vsapi->mapGetFunction(in, "func", 0, &err); /* new reference */
    if (err || !func) {
        vsapi->mapSetError(out, "rife.ShimRegister: missing func");
        return;
    }
    if (hs->func)
        vsapi->freeFunction(hs->func);
    hs->func = func;
    hs->func_core = core;
}

/* ---------------------------------------------------------------------------
 * rife.RIFE
 * ------------------------------------------------------------------------- */

/* The path of this library (for messages and for vsplugin's atexit handler). */
static const char *own_path(void) {
    Dl_info info;
    if (dladdr((void *)&own_path, &info) && info.dli_fname)
        return info.dli_fname;
    return "libvsrife_shim.so";
}

#define SHUTDOWN_WAIT_MS 30000 /* how long interpreter exit waits for calls running in other threads */

/* Registers atexit.register(ctypes.CDLL(<this library>).vsrife_shim_close, SHUTDOWN_WAIT_MS) once per
 * process. atexit handlers run before Python starts finalizing, while other threads still run normally.
 * Needs the GIL; nothing of vsrife is imported (that would import torch into every core). */
static void arm_shutdown_guard(const PyApi *py) {
    if (atomic_exchange(&armed, 1))
        return;
    PyObject *atexit = py->PyImport_ImportModule("atexit");
    PyObject *ctypes = atexit ? py->PyImport_ImportModule("ctypes") : NULL;
    PyObject *cdll = ctypes ? py->PyObject_GetAttrString(ctypes, "CDLL") : NULL;
    PyObject *path = cdll ? py->PyUnicode_FromString(own_path()) : NULL;
    PyObject *lib = path ? py->PyObject_CallFunctionObjArgs(cdll, path, NULL) : NULL;
    PyObject *fn = lib ? py->PyObject_GetAttrString(lib, "vsrife_shim_close") : NULL;
    PyObject *reg = fn ? py->PyObject_GetAttrString(atexit, "register") : NULL;
    PyObject *ms = reg ? py->PyLong_FromLongLong(SHUTDOWN_WAIT_MS) : NULL;
    PyObject *res = ms ? py->PyObject_CallFunctionObjArgs(reg, fn, ms, NULL) : NULL;
    if (!res) {
        if (py->PyErr_Occurred())
            py->PyErr_Clear();
        atomic_store(&armed, 0); /* try again on the next call */
    }
    py->Py_DecRef(res);
    py->Py_DecRef(ms);
    py->Py_DecRef(reg);
    py->Py_DecRef(fn);
    py->Py_DecRef(lib);
    py->Py_DecRef(path);
    py->Py_DecRef(cdll);
    py->Py_DecRef(ctypes);
    py->Py_DecRef(atexit);
}

/* Asks the Python side to register its callable: vsrife.vsplugin.register(token). It returns None,
 * or a message (str) when it cannot reach the calling core. Returns 0 and fills err on failure. */
static int python_handshake(const PyApi *py, int64_t token, char *err, size_t errsize) {
    int ok = 0;
    int gil = py->PyGILState_Ensure();
    arm_shutdown_guard(py);
    PyObject *mod = py->PyImport_ImportModule("vsrife.vsplugin");
    if (!mod) {
        char pyerr[1024];
        format_python_error(py, pyerr, sizeof(pyerr));
        if (strstr(pyerr, "No module named 'vsrife"))
            snprintf(err, errsize,
                     "rife: vsrife is not installed for the Python that runs VapourSynth (%s). If it was "
                     "uninstalled, this library (%s) was left behind and still holds the rife namespace: "
                     "delete it (next time run `vsrife native uninstall` before `pip uninstall vsrife`).",
                     pyerr, own_path());
        else
            snprintf(err, errsize, "rife: cannot import vsrife.vsplugin in this process's Python (%s)", pyerr);
        goto done;
    }
    PyObject *fn = py->PyObject_GetAttrString(mod, "register");
    PyObject *arg = fn ? py->PyLong_FromLongLong((long long)token) : NULL;
    PyObject *res = arg ? py->PyObject_CallFunctionObjArgs(fn, arg, NULL) : NULL;
    if (!res) {
        char pyerr[1024];
        format_python_error(py, pyerr, sizeof(pyerr));
        snprintf(err, errsize, "rife: vsrife.vsplugin.register() failed: %s", pyerr);
    } else {
        const char *msg = py->PyUnicode_AsUTF8(res); /* fails (and sets an error) for None */
        if (msg) {
            snprintf(err, errsize, "%s", msg);
        } else {
            py->PyErr_Clear();
            ok = 1;
        }
    }
    py->Py_DecRef(res);
    py->Py_DecRef(arg);
    py->Py_DecRef(fn);
    py->Py_DecRef(mod);
done:
    py->PyGILState_Release(gil);
    return ok;
}

/* Copies the callable's result (or error) to out. */
static void take_result(const VSMap *ret, VSMap *out, const VSAPI *vsapi) {
    const char *e = vsapi->mapGetError(ret);
    if (e) {
        /* An exception escaped the Python callable. Passed on untouched: the text may carry
         * VapourSynth's [VS_PY_EXC_ID:n] marker, which re-raises the original exception in the
         * calling script, and otherwise it is the whole message. */
        vsapi->mapSetError(out, e);
    } else if (vsapi->mapGetType(ret, "error") == ptData) {
        /* The Python callable reports errors as {"error": message}: no traceback for users. */
        int derr = 0;
        const char *msg = vsapi->mapGetData(ret, "error", 0, &derr);
        vsapi->mapSetError(out, (!derr && msg) ? msg : "RIFE: unknown error");
    } else {
        /* The Python callable returns {"clip": node}; a bare return value would be under "val". */
        const char *key = NULL;
        if (vsapi->mapGetType(ret, "clip") == ptVideoNode)
            key = "clip";
        else if (vsapi->mapGetType(ret, "val") == ptVideoNode)
            key = "val";
        int nerr = 0;
        VSNode *node = key ? vsapi->mapGetNode(ret, key, 0, &nerr) : NULL; /* new reference */
        if (!node || nerr)
            vsapi->mapSetError(out, "rife: the Python implementation did not return a video clip");
        else
            vsapi->mapConsumeNode(out, "clip", node, maReplace);
    }
}

static void rife_call(const VSMap *in, VSMap *out, VSCore *core, const VSAPI *vsapi) {
    PyApi py;
    char err[2048];

    if (!load_python_api(&py) || !py.Py_IsInitialized()) {
        vsapi->mapSetError(out, ERR_NO_PYTHON);
        return;
    }
    if (py.Py_IsFinalizing && py.Py_IsFinalizing()) {
        vsapi->mapSetError(out, ERR_SHUTDOWN);
        return;
    }

    Handshake hs = {(int64_t)(intptr_t)&hs, core, NULL, NULL};
    Handshake *saved = pending;
    pending = &hs;
    int ok = python_handshake(&py, hs.token, err, sizeof(err));
    pending = saved;

    if (!ok) {
        if (hs.func)
            vsapi->freeFunction(hs.func);
        vsapi->mapSetError(out, err);
        return;
    }
    if (!hs.func || hs.func_core != core) {
        if (hs.func)
            vsapi->freeFunction(hs.func);
        vsapi->mapSetError(out, ERR_OTHER_CORE);
        return;
    }

    /* The GIL is not held here; the VapourSynth Python module takes it itself. */
    VSMap *ret = vsapi->createMap();
    vsapi->callFunction(hs.func, in, ret);
    vsapi->freeFunction(hs.func);
    take_result(ret, out, vsapi);
    vsapi->freeMap(ret);
}

/* A call refused at interpreter exit comes from a thread racing the exit (a daemon thread: the others are
 * joined before atexit handlers run). Returned at once, it goes straight back into VapourSynth's Python
 * module while VapourSynth tears its core down (its own atexit handler runs after this library's): it may
 * build a new core there and take the GIL inside VapourSynth's noexcept functions just as Python
 * finalizes, and pthread_exit through those aborts the process. So the refused call first waits here,
 * without the GIL, for the process to end; should it live on (a host that finalizes Python and keeps
 * running), the call returns its error after REFUSED_HOLD_MS. */
#define REFUSED_HOLD_MS 10000

static void hold_refused_call(void) {
    struct timespec left = {REFUSED_HOLD_MS / 1000, (REFUSED_HOLD_MS % 1000) * 1000000L};
    while (nanosleep(&left, &left) == -1 && errno == EINTR) /* a signal cuts it short: sleep the rest */
        ;
}

static void VS_CC rifeCreate(const VSMap *in, VSMap *out, void *userData, VSCore *core, const VSAPI *vsapi) {
    (void)userData;
    /* Counted before closing is read, and vsrife_shim_close sets closing before it reads the count
     * (both sequentially consistent): either this call is refused or the atexit handler waits for it. */
    atomic_fetch_add(&inflight, 1);
    if (atomic_load(&closing)) {
        atomic_fetch_sub(&inflight, 1); /* a refused call is not waited for */
        hold_refused_call();
        vsapi->mapSetError(out, ERR_SHUTDOWN);
        return;
    }
    rife_call(in, out, core, vsapi);
    atomic_fetch_sub(&inflight, 1);
}

VS_EXTERNAL_API(void) VapourSynthPluginInit2(VSPlugin *plugin, const VSPLUGINAPI *vspapi) {
    vspapi->configPlugin(SHIM_ID, SHIM_NS, "RIFE frame interpolation (vsrife, PyTorch; forwards to Python)",
                         VS_MAKE_VERSION(1, 0), VAPOURSYNTH_API_VERSION, 0, plugin);
    /* "any": every keyword is forwarded untouched and validated by vsrife.filter.RIFE. */
    vspapi->registerFunction("RIFE", "clip:vnode;any", "clip:vnode;", rifeCreate, NULL, plugin);
    vspapi->registerFunction("ShimRegister", "func:func;token:int:opt;", "", registerCallback, NULL, plugin);

    /* A core created from Python (a script, vspipe) loads this library with the GIL held: arm the shutdown
     * guard now, so it is in place even when the first call comes from a thread at interpreter exit. */
    PyApi py;
    if (load_python_api(&py) && py.Py_IsInitialized() && py.PyGILState_Check && py.PyGILState_Check() &&
        !(py.Py_IsFinalizing && py.Py_IsFinalizing()))
        arm_shutdown_guard(&py);
}
