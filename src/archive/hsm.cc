#include "archive/hsm.h"

#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <sodium.h>

#include <cstring>
#include <map>

#include "common/strings.h"

#if defined(__SANITIZE_ADDRESS__)
#define VB_LEAK_CHECKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VB_LEAK_CHECKS 1
#endif
#endif
#ifdef VB_LEAK_CHECKS
#include <sanitizer/lsan_interface.h>
#endif

namespace verbatim::archive {

struct Hsm::Module {
  CK_FUNCTION_LIST* f = nullptr;
  std::map<std::pair<unsigned long, std::string>, unsigned long> handles;  // guarded by Hsm
};

namespace {

// Calls into the module: the leak checker (ASan builds) ignores what the module allocates, as
// third-party code we cannot mend (SoftHSM 2.6.1 leaks an ASN.1 object per EdDSA C_SignInit).
// Our own allocations around the calls are checked as everywhere else.
class ModuleCall {
 public:
  ModuleCall() {
#ifdef VB_LEAK_CHECKS
    __lsan_disable();
#endif
  }
  ~ModuleCall() {
#ifdef VB_LEAK_CHECKS
    __lsan_enable();
#endif
  }
  ModuleCall(const ModuleCall&) = delete;
  ModuleCall& operator=(const ModuleCall&) = delete;
};

constexpr size_t kIv = 12, kTag = 16;
// DER of the OID 1.3.101.112 (id-Ed25519), the curve of CKK_EC_EDWARDS keys.
constexpr std::array<uint8_t, 5> kEd25519Oid = {0x06, 0x03, 0x2B, 0x65, 0x70};

std::string rv_name(CK_RV rv) {
  switch (rv) {
    case CKR_PIN_INCORRECT:
      return "CKR_PIN_INCORRECT";
    case CKR_PIN_LOCKED:
      return "CKR_PIN_LOCKED";
    case CKR_TOKEN_NOT_PRESENT:
      return "CKR_TOKEN_NOT_PRESENT";
    case CKR_TOKEN_NOT_RECOGNIZED:
      return "CKR_TOKEN_NOT_RECOGNIZED";
    case CKR_DEVICE_ERROR:
      return "CKR_DEVICE_ERROR";
    case CKR_DEVICE_REMOVED:
      return "CKR_DEVICE_REMOVED";
    case CKR_SESSION_HANDLE_INVALID:
      return "CKR_SESSION_HANDLE_INVALID";
    case CKR_MECHANISM_INVALID:
      return "CKR_MECHANISM_INVALID";
    case CKR_KEY_HANDLE_INVALID:
      return "CKR_KEY_HANDLE_INVALID";
    case CKR_ENCRYPTED_DATA_INVALID:
      return "CKR_ENCRYPTED_DATA_INVALID";
    case CKR_ATTRIBUTE_VALUE_INVALID:
      return "CKR_ATTRIBUTE_VALUE_INVALID";
    case CKR_TEMPLATE_INCOMPLETE:
      return "CKR_TEMPLATE_INCOMPLETE";
    case CKR_USER_NOT_LOGGED_IN:
      return "CKR_USER_NOT_LOGGED_IN";
    case CKR_GENERAL_ERROR:
      return "CKR_GENERAL_ERROR";
    case CKR_FUNCTION_FAILED:
      return "CKR_FUNCTION_FAILED";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "CKR 0x%lx", rv);
      return buf;
    }
  }
}

Error hsm_error(const std::string& what, CK_RV rv) {
  // A value that does not decrypt is tampered with (or under another key); anything else is
  // the HSM out of reach or refusing.
  const auto code = rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE
                        ? ErrorCode::kFailedPrecondition
                        : ErrorCode::kIo;
  return Error{code, "HSM: " + what + ": " + rv_name(rv)};
}

std::string padded(const unsigned char* field, size_t n) {
  std::string s(reinterpret_cast<const char*>(field), n);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

Result<CK_FUNCTION_LIST*> load_module(const std::string& path) {
  static std::mutex mutex;
  static std::map<std::string, CK_FUNCTION_LIST*> loaded;
  std::lock_guard lock(mutex);
  const ModuleCall call;
  if (auto it = loaded.find(path); it != loaded.end()) return it->second;
  void* lib = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = ::dlerror();
    return make_error(ErrorCode::kIo, "HSM: cannot load the PKCS#11 module " + path + ": " +
                                          (why ? why : "unknown error"));
  }
  auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(lib, "C_GetFunctionList"));
  CK_FUNCTION_LIST* f = nullptr;
  if (!get || get(&f) != CKR_OK || !f) {
    return make_error(ErrorCode::kIo, "HSM: " + path + " is not a PKCS#11 module");
  }
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  const CK_RV rv = f->C_Initialize(&args);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    return hsm_error("initialising " + path, rv);
  }
  loaded[path] = f;
  return f;
}

}  // namespace

Result<std::shared_ptr<Hsm>> Hsm::open(const HsmOptions& options) {
  if (options.token.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "HSM: no token label configured");
  }
  auto f = load_module(options.module);
  if (!f) return f.error();
  const ModuleCall call;
  CK_FUNCTION_LIST* fl = f.value();
  CK_ULONG count = 0;
  if (CK_RV rv = fl->C_GetSlotList(CK_TRUE, nullptr, &count); rv != CKR_OK) {
    return hsm_error("listing slots", rv);
  }
  std::vector<CK_SLOT_ID> slots(count);
  if (CK_RV rv = fl->C_GetSlotList(CK_TRUE, slots.data(), &count); rv != CKR_OK) {
    return hsm_error("listing slots", rv);
  }
  slots.resize(count);
  std::optional<CK_SLOT_ID> slot;
  std::vector<std::string> seen;
  for (CK_SLOT_ID s : slots) {
    CK_TOKEN_INFO info{};
    if (fl->C_GetTokenInfo(s, &info) != CKR_OK) continue;
    const std::string label = padded(info.label, sizeof info.label);
    if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) continue;
    seen.push_back("'" + label + "'");
    if (label == options.token) {
      slot = s;
      break;
    }
  }
  if (!slot) {
    return make_error(ErrorCode::kIo,
                      "HSM: no token labelled '" + options.token + "' in " + options.module +
                          " (tokens present: " + (seen.empty() ? "none" : join(seen, ", ")) + ")");
  }
  CK_SESSION_HANDLE session = 0;
  if (CK_RV rv =
          fl->C_OpenSession(*slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &session);
      rv != CKR_OK) {
    return hsm_error("opening a session on token '" + options.token + "'", rv);
  }
  std::string pin = options.pin;
  const CK_RV rv =
      fl->C_Login(session, CKU_USER, reinterpret_cast<unsigned char*>(pin.data()), pin.size());
  sodium_memzero(pin.data(), pin.size());
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
    fl->C_CloseSession(session);
    return hsm_error("logging in to token '" + options.token + "'", rv);
  }
  auto* module = new Module{fl, {}};  // NOLINT(cppcoreguidelines-owning-memory): owned below
  return std::shared_ptr<Hsm>(new Hsm(options, module, session));
}

Hsm::~Hsm() {
  const ModuleCall call;
  module_->f->C_CloseSession(session_);
  delete module_;  // NOLINT(cppcoreguidelines-owning-memory): this Hsm's handle cache
}

std::string Hsm::describe() const { return "token '" + options_.token + "' in " + options_.module; }

Result<std::optional<unsigned long>> Hsm::find(unsigned long klass, const std::string& label) {
  if (auto it = module_->handles.find({klass, label}); it != module_->handles.end()) {
    return std::optional<unsigned long>(it->second);
  }
  CK_OBJECT_CLASS cls = klass;
  std::string l = label;
  CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, l.data(), l.size()}};
  CK_FUNCTION_LIST* f = module_->f;
  if (CK_RV rv = f->C_FindObjectsInit(session_, tmpl, 2); rv != CKR_OK) {
    return hsm_error("finding key '" + label + "'", rv);
  }
  CK_OBJECT_HANDLE found[2];
  CK_ULONG n = 0;
  const CK_RV rv = f->C_FindObjects(session_, found, 2, &n);
  f->C_FindObjectsFinal(session_);
  if (rv != CKR_OK) return hsm_error("finding key '" + label + "'", rv);
  if (n > 1) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "HSM: more than one key labelled '" + label + "' in " + describe());
  }
  if (n == 0) return std::optional<unsigned long>();
  module_->handles[{klass, label}] = found[0];
  return std::optional<unsigned long>(found[0]);
}

Result<unsigned long> Hsm::handle(unsigned long klass, const std::string& label) {
  auto h = find(klass, label);
  if (!h) return h.error();
  if (!h.value()) {
    return make_error(ErrorCode::kNotFound,
                      "HSM: no key labelled '" + label + "' in " + describe());
  }
  return *h.value();
}

Result<std::optional<std::string>> Hsm::find_secret_key(const std::string& label) {
  std::lock_guard lock(mutex_);
  const ModuleCall call;
  auto h = find(CKO_SECRET_KEY, label);
  if (!h) return h.error();
  if (!h.value()) return std::optional<std::string>();
  std::array<uint8_t, 8> id{};
  CK_ATTRIBUTE a = {CKA_ID, id.data(), id.size()};
  if (CK_RV rv = module_->f->C_GetAttributeValue(session_, *h.value(), &a, 1); rv != CKR_OK) {
    return hsm_error("reading the id of key '" + label + "'", rv);
  }
  return std::optional<std::string>(to_hex(std::span(id.data(), a.ulValueLen)));
}

Result<std::string> Hsm::create_secret_key(const std::string& label) {
  std::lock_guard lock(mutex_);
  const ModuleCall call;
  std::array<uint8_t, 8> id{};
  randombytes_buf(id.data(), id.size());
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  CK_ULONG len = 32;
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  std::string l = label;
  CK_ATTRIBUTE tmpl[] = {
      {CKA_CLASS, &cls, sizeof cls},     {CKA_KEY_TYPE, &type, sizeof type},
      {CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, &yes, sizeof yes},
      {CKA_PRIVATE, &yes, sizeof yes},   {CKA_SENSITIVE, &yes, sizeof yes},
      {CKA_EXTRACTABLE, &no, sizeof no}, {CKA_ENCRYPT, &yes, sizeof yes},
      {CKA_DECRYPT, &yes, sizeof yes},   {CKA_LABEL, l.data(), l.size()},
      {CKA_ID, id.data(), id.size()},
  };
  CK_MECHANISM mech = {CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE key = 0;
  if (CK_RV rv = module_->f->C_GenerateKey(session_, &mech, tmpl, std::size(tmpl), &key);
      rv != CKR_OK) {
    return hsm_error("creating key '" + label + "'", rv);
  }
  module_->handles[{CKO_SECRET_KEY, label}] = key;
  return to_hex(id);
}

Result<std::vector<uint8_t>> Hsm::encrypt(const std::string& label, std::span<const uint8_t> plain,
                                          std::span<const uint8_t> aad) {
  std::lock_guard lock(mutex_);
  const ModuleCall call;
  auto key = handle(CKO_SECRET_KEY, label);
  if (!key) return key.error();
  std::vector<uint8_t> out(kIv + plain.size() + kTag);
  randombytes_buf(out.data(), kIv);
  std::vector<uint8_t> ad(aad.begin(), aad.end()), in(plain.begin(), plain.end());
  CK_GCM_PARAMS gcm = {out.data(), kIv, kIv * 8, ad.data(), ad.size(), kTag * 8};
  CK_MECHANISM mech = {CKM_AES_GCM, &gcm, sizeof gcm};
  CK_FUNCTION_LIST* f = module_->f;
  if (CK_RV rv = f->C_EncryptInit(session_, &mech, key.value()); rv != CKR_OK) {
    return hsm_error("encrypting under '" + label + "'", rv);
  }
  CK_ULONG n = out.size() - kIv;
  const CK_RV rv = f->C_Encrypt(session_, in.data(), in.size(), out.data() + kIv, &n);
  sodium_memzero(in.data(), in.size());
  if (rv != CKR_OK) return hsm_error("encrypting under '" + label + "'", rv);
  out.resize(kIv + n);
  return out;
}

Result<std::vector<uint8_t>> Hsm::decrypt(const std::string& label, std::span<const uint8_t> sealed,
                                          std::span<const uint8_t> aad) {
  if (sealed.size() < kIv + kTag) {
    return make_error(ErrorCode::kFailedPrecondition, "HSM: a sealed value is too short");
  }
  std::lock_guard lock(mutex_);
  const ModuleCall call;
  auto key = handle(CKO_SECRET_KEY, label);
  if (!key) return key.error();
  std::vector<uint8_t> iv(sealed.begin(), sealed.begin() + kIv), ad(aad.begin(), aad.end());
  std::vector<uint8_t> in(sealed.begin() + kIv, sealed.end());
  CK_GCM_PARAMS gcm = {iv.data(), kIv, kIv * 8, ad.data(), ad.size(), kTag * 8};
  CK_MECHANISM mech = {CKM_AES_GCM, &gcm, sizeof gcm};
  CK_FUNCTION_LIST* f = module_->f;
  if (CK_RV rv = f->C_DecryptInit(session_, &mech, key.value()); rv != CKR_OK) {
    return hsm_error("decrypting under '" + label + "'", rv);
  }
  std::vector<uint8_t> out(in.size());
  CK_ULONG n = out.size();
  if (CK_RV rv = f->C_Decrypt(session_, in.data(), in.size(), out.data(), &n); rv != CKR_OK) {
    return hsm_error("decrypting under '" + label + "'", rv);
  }
  out.resize(n);
  return out;
}

Status Hsm::destroy_secret_key(const std::string& label) {
  std::lock_guard lock(mutex_);
  const ModuleCall call;
  auto key = handle(CKO_SECRET_KEY, label);
  if (!key) return key.error();
  module_->handles.erase({CKO_SECRET_KEY, label});
  if (CK_RV rv = module_->f->C_DestroyObject(session_, key.value()); rv != CKR_OK) {
    return hsm_error("destroying key '" + label + "'", rv);
  }
  return ok_status();
}

Result<std::optional<std::array<uint8_t, 32>>> Hsm::find_signing_key(const std::string& label) {
  std::lock_guard lock(mutex_);
  const ModuleCall call;
  auto h = find(CKO_PUBLIC_KEY, label);
  if (!h) return h.error();
  if (!h.value()) return std::optional<std::array<uint8_t, 32>>();
  std::array<uint8_t, 64> point{};
  CK_ATTRIBUTE a = {CKA_EC_POINT, point.data(), point.size()};
  if (CK_RV rv = module_->f->C_GetAttributeValue(session_, *h.value(), &a, 1); rv != CKR_OK) {
    return hsm_error("reading the public key '" + label + "'", rv);
  }
  // Raw 32 bytes, or (as PKCS#11 v2.40 says) a DER OCTET STRING around them.
  const uint8_t* p = point.data();
  if (a.ulValueLen == 34 && p[0] == 0x04 && p[1] == 32) {
    p += 2;
  } else if (a.ulValueLen != 32) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "HSM: key '" + label + "' is not an Ed25519 public key");
  }
  std::array<uint8_t, 32> pk{};
  std::memcpy(pk.data(), p, pk.size());
  return std::optional<std::array<uint8_t, 32>>(pk);
}

Result<std::array<uint8_t, 32>> Hsm::create_signing_key(const std::string& label) {
  {
    std::lock_guard lock(mutex_);
    const ModuleCall call;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_KEY_TYPE type = CKK_EC_EDWARDS;
    std::array<uint8_t, 5> oid = kEd25519Oid;
    std::array<uint8_t, 8> id{};
    randombytes_buf(id.data(), id.size());
    std::string l = label;
    CK_ATTRIBUTE pub[] = {
        {CKA_KEY_TYPE, &type, sizeof type}, {CKA_TOKEN, &yes, sizeof yes},
        {CKA_VERIFY, &yes, sizeof yes},     {CKA_EC_PARAMS, oid.data(), oid.size()},
        {CKA_LABEL, l.data(), l.size()},    {CKA_ID, id.data(), id.size()},
    };
    CK_ATTRIBUTE priv[] = {
        {CKA_KEY_TYPE, &type, sizeof type}, {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes},    {CKA_SENSITIVE, &yes, sizeof yes},
        {CKA_EXTRACTABLE, &no, sizeof no},  {CKA_SIGN, &yes, sizeof yes},
        {CKA_LABEL, l.data(), l.size()},    {CKA_ID, id.data(), id.size()},
    };
    CK_MECHANISM mech = {CKM_EC_EDWARDS_KEY_PAIR_GEN, nullptr, 0};
    CK_OBJECT_HANDLE pub_key = 0, priv_key = 0;
    if (CK_RV rv = module_->f->C_GenerateKeyPair(session_, &mech, pub, std::size(pub), priv,
                                                 std::size(priv), &pub_key, &priv_key);
        rv != CKR_OK) {
      return hsm_error("creating the Ed25519 key '" + label + "'", rv);
    }
  }
  auto pk = find_signing_key(label);
  if (!pk) return pk.error();
  if (!pk.value()) return make_error(ErrorCode::kInternal, "HSM: the new key is not there");
  return *pk.value();
}

Result<std::array<uint8_t, 64>> Hsm::sign(const std::string& label,
                                          std::span<const uint8_t> message) {
  std::lock_guard lock(mutex_);
  const ModuleCall call;
  auto key = handle(CKO_PRIVATE_KEY, label);
  if (!key) return key.error();
  CK_MECHANISM mech = {CKM_EDDSA, nullptr, 0};
  CK_FUNCTION_LIST* f = module_->f;
  if (CK_RV rv = f->C_SignInit(session_, &mech, key.value()); rv != CKR_OK) {
    return hsm_error("signing with '" + label + "'", rv);
  }
  std::vector<uint8_t> in(message.begin(), message.end());
  std::array<uint8_t, 64> sig{};
  CK_ULONG n = sig.size();
  if (CK_RV rv = f->C_Sign(session_, in.data(), in.size(), sig.data(), &n); rv != CKR_OK) {
    return hsm_error("signing with '" + label + "'", rv);
  }
  if (n != sig.size()) {
    return make_error(ErrorCode::kInternal,
                      "HSM: an Ed25519 signature of " + std::to_string(n) + " bytes");
  }
  return sig;
}

}  // namespace verbatim::archive
