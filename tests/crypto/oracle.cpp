#include "tests/crypto/oracle.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/nid.h>

#include <stdexcept>
#include <string>

#include "crypto/hash_to_curve.h"

namespace athm::oracle {
namespace {

const EC_GROUP* grp() { return EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1); }

struct bn_ctx {
  BN_CTX* c = BN_CTX_new();
  ~bn_ctx() { BN_CTX_free(c); }
};
thread_local bn_ctx tctx;
BN_CTX* ctx() { return tctx.c; }

// Scalars are BIGNUMs; points EC_POINTs, both by value.
struct Scalar {
  bssl::UniquePtr<BIGNUM> v{BN_new()};
  Scalar() { BN_zero(v.get()); }
  Scalar(const Scalar& o) : v(BN_dup(o.v.get())) {}
  Scalar& operator=(const Scalar& o) {
    BN_copy(v.get(), o.v.get());
    return *this;
  }
  static Scalar of(uint64_t w) {
    Scalar s;
    BN_set_word(s.v.get(), w);
    return s;
  }
};
struct Element {
  bssl::UniquePtr<EC_POINT> v{EC_POINT_new(grp())};
  Element() = default;
  Element(const Element& o) : v(EC_POINT_dup(o.v.get(), grp())) {}
  Element& operator=(const Element& o) {
    EC_POINT_copy(v.get(), o.v.get());
    return *this;
  }
};

const BIGNUM* order() { return EC_GROUP_get0_order(grp()); }

Scalar add(const Scalar& a, const Scalar& b) {
  Scalar r;
  BN_mod_add(r.v.get(), a.v.get(), b.v.get(), order(), ctx());
  return r;
}
Scalar sub(const Scalar& a, const Scalar& b) {
  Scalar r;
  BN_mod_sub(r.v.get(), a.v.get(), b.v.get(), order(), ctx());
  return r;
}
Scalar mul(const Scalar& a, const Scalar& b) {
  Scalar r;
  BN_mod_mul(r.v.get(), a.v.get(), b.v.get(), order(), ctx());
  return r;
}
Scalar neg(const Scalar& a) { return sub(Scalar(), a); }
Scalar inverse(const Scalar& a) {
  Scalar r;
  BN_mod_inverse(r.v.get(), a.v.get(), order(), ctx());
  return r;
}
bool eq(const Scalar& a, const Scalar& b) { return BN_cmp(a.v.get(), b.v.get()) == 0; }

Element G() {
  Element e;
  EC_POINT_copy(e.v.get(), EC_GROUP_get0_generator(grp()));
  return e;
}
Element smul(const Scalar& k, const Element& p) {
  Element r;
  EC_POINT_mul(grp(), r.v.get(), nullptr, p.v.get(), k.v.get(), ctx());
  return r;
}
Element gmul(const Scalar& k) {
  Element r;
  EC_POINT_mul(grp(), r.v.get(), k.v.get(), nullptr, nullptr, ctx());
  return r;
}
Element padd(const Element& a, const Element& b) {
  Element r;
  EC_POINT_add(grp(), r.v.get(), a.v.get(), b.v.get(), ctx());
  return r;
}
Element psub(const Element& a, const Element& b) {
  Element nb = b;
  EC_POINT_invert(grp(), nb.v.get(), ctx());
  return padd(a, nb);
}
bool peq(const Element& a, const Element& b) {
  return EC_POINT_cmp(grp(), a.v.get(), b.v.get(), ctx()) == 0;
}

bytes SerializeElement(const Element& e) {
  bytes out(33);
  EC_POINT_point2oct(grp(), e.v.get(), POINT_CONVERSION_COMPRESSED, out.data(), 33, ctx());
  return out;
}
std::optional<Element> DeserializeElement(const uint8_t* in) {
  if (in[0] != 2 && in[0] != 3) {
    return std::nullopt;
  }
  Element e;
  if (!EC_POINT_oct2point(grp(), e.v.get(), in, 33, ctx()) ||
      EC_POINT_is_at_infinity(grp(), e.v.get())) {
    return std::nullopt;
  }
  return e;
}
bytes SerializeScalar(const Scalar& s) {
  bytes out(32);
  BN_bn2bin_padded(out.data(), 32, s.v.get());
  return out;
}
std::optional<Scalar> DeserializeScalar(const uint8_t* in) {
  Scalar s;
  BN_bin2bn(in, 32, s.v.get());
  if (BN_cmp(s.v.get(), order()) >= 0) {
    return std::nullopt;
  }
  return s;
}

std::string context(const params& p) {
  return "ATHMV1-P256-" + std::to_string(p.n) + "-" + p.deployment_id;
}

Scalar HashToScalar(const params& p, const bytes& x, const std::string& info) {
  auto u = expand_message_xmd_sha256(x, "HashToScalar-" + context(p) + info, 48);
  if (!u) {
    throw std::runtime_error("expand_message_xmd");
  }
  Scalar s;
  BN_bin2bn(u->data(), 48, s.v.get());
  BN_nnmod(s.v.get(), s.v.get(), order(), ctx());
  return s;
}
Element GeneratorH(const params& p) {
  auto h = hash_to_curve_p256_public(SerializeElement(G()), "HashToGroup-" + context(p) + "generatorH");
  if (!h) {
    throw std::runtime_error("hash_to_curve");
  }
  Element e;
  EC_POINT_copy(e.v.get(), h->raw());
  return e;
}

Scalar RandomScalar(random_source& rng) {
  for (;;) {
    uint8_t buf[32];
    rng.fill(buf);
    Scalar s;
    BN_bin2bn(buf, 32, s.v.get());
    if (BN_cmp(s.v.get(), order()) < 0) {
      return s;
    }
  }
}
Scalar RandomNonzeroScalar(random_source& rng) {
  for (;;) {
    Scalar s = RandomScalar(rng);
    if (!BN_is_zero(s.v.get())) {
      return s;
    }
  }
}

void put(bytes& tr, const bytes& b) {
  tr.push_back(static_cast<uint8_t>(b.size() >> 8));
  tr.push_back(static_cast<uint8_t>(b.size()));
  tr.insert(tr.end(), b.begin(), b.end());
}
void cat(bytes& out, const bytes& b) { out.insert(out.end(), b.begin(), b.end()); }

struct PrivateKey {
  Scalar x, y, z, r_x, r_y;
};
struct PublicKey {
  Element Z, C_x, C_y;
};

PrivateKey parse_private(const bytes& b) {
  PrivateKey k;
  Scalar* f[5] = {&k.x, &k.y, &k.z, &k.r_x, &k.r_y};
  for (int i = 0; i < 5; ++i) {
    *f[i] = *DeserializeScalar(b.data() + 32 * i);
  }
  return k;
}
PublicKey parse_public(const bytes& b) {
  return PublicKey{*DeserializeElement(b.data()), *DeserializeElement(b.data() + 33),
                   *DeserializeElement(b.data() + 66)};
}

struct IssuanceProof {
  Element C;
  std::vector<Scalar> e_vec, a_vec;
  Scalar a_d, a_rho, a_w;
};
struct Response {
  Element U, V;
  Scalar ts;
  IssuanceProof pi;
};

std::optional<Response> parse_response(const params& p, const bytes& b) {
  if (b.size() != 227 + 64 * size_t{p.n}) {
    return std::nullopt;
  }
  Response r;
  size_t off = 0;
  auto el = [&]() -> std::optional<Element> { auto e = DeserializeElement(b.data() + off); off += 33; return e; };
  auto sc = [&]() -> std::optional<Scalar> { auto s = DeserializeScalar(b.data() + off); off += 32; return s; };
  auto U = el(), V = el();
  auto ts = sc();
  auto C = el();
  if (!U || !V || !ts || !C) {
    return std::nullopt;
  }
  r.U = *U; r.V = *V; r.ts = *ts; r.pi.C = *C;
  for (auto* vec : {&r.pi.e_vec, &r.pi.a_vec}) {
    for (uint32_t i = 0; i < p.n; ++i) {
      auto s = sc();
      if (!s) {
        return std::nullopt;
      }
      vec->push_back(*s);
    }
  }
  auto a_d = sc(), a_rho = sc(), a_w = sc();
  if (!a_d || !a_rho || !a_w) {
    return std::nullopt;
  }
  r.pi.a_d = *a_d; r.pi.a_rho = *a_rho; r.pi.a_w = *a_w;
  return r;
}

}  // namespace

key_pair key_gen(const params& p, random_source& rng) {
  Scalar x = RandomScalar(rng);
  Scalar y = RandomNonzeroScalar(rng);
  Scalar z = RandomNonzeroScalar(rng);
  Scalar r_x = RandomScalar(rng);
  Scalar r_y = RandomScalar(rng);
  const Element H = GeneratorH(p);

  Element Z = gmul(z);
  Element C_x = padd(gmul(x), smul(r_x, H));
  Element C_y = padd(gmul(y), smul(r_y, H));

  // CreatePublicKeyProof(z, Z)
  Scalar rho_z = RandomScalar(rng);
  Element gamma_z = gmul(rho_z);
  bytes tr;
  put(tr, SerializeElement(G()));
  put(tr, SerializeElement(Z));
  put(tr, SerializeElement(gamma_z));
  Scalar e = HashToScalar(p, tr, "KeyCommitments");
  Scalar a_z = sub(rho_z, mul(e, z));

  key_pair kp;
  for (const Scalar* s : {&x, &y, &z, &r_x, &r_y}) {
    cat(kp.private_key, SerializeScalar(*s));
  }
  cat(kp.token_key, SerializeElement(Z));
  cat(kp.token_key, SerializeElement(C_x));
  cat(kp.token_key, SerializeElement(C_y));
  cat(kp.token_key, SerializeScalar(e));
  cat(kp.token_key, SerializeScalar(a_z));
  return kp;
}

request_state token_request(const params& p, const bytes& token_key, random_source& rng) {
  PublicKey pk = parse_public(token_key);
  Scalar r = RandomScalar(rng);
  Scalar tc = RandomScalar(rng);
  Element T = padd(gmul(r), smul(tc, pk.Z));
  request_state st;
  cat(st.context, SerializeScalar(r));
  cat(st.context, SerializeScalar(tc));
  st.request = SerializeElement(T);
  return st;
}

bytes token_response(const params& p, const bytes& private_key, const bytes& token_key,
                     const bytes& request, uint32_t hiddenMetadata, random_source& rng) {
  const uint32_t nBuckets = p.n;
  PrivateKey sk = parse_private(private_key);
  PublicKey pk = parse_public(token_key);
  Element T = *DeserializeElement(request.data());
  const Element H = GeneratorH(p);
  const Scalar b = Scalar::of(hiddenMetadata);

  // TokenResponse
  Scalar ts = RandomScalar(rng);
  Scalar d = RandomNonzeroScalar(rng);
  Element U = gmul(d);
  Element X = gmul(sk.x);
  Element Y = gmul(sk.y);
  Element V = smul(d, padd(padd(padd(X, smul(b, Y)), smul(ts, pk.Z)), T));

  // CreateIssuanceProof
  std::vector<Scalar> e_vec, a_vec;
  for (uint32_t i = 0; i < nBuckets; ++i) {
    e_vec.push_back(RandomScalar(rng));
  }
  e_vec[hiddenMetadata] = Scalar();
  for (uint32_t i = 0; i < nBuckets; ++i) {
    a_vec.push_back(RandomScalar(rng));
  }
  a_vec[hiddenMetadata] = Scalar();
  Scalar r_mu = RandomScalar(rng);
  Scalar r_d = RandomScalar(rng);
  Scalar r_rho = RandomScalar(rng);
  Scalar r_w = RandomScalar(rng);
  Scalar mu = RandomScalar(rng);

  Element C = padd(smul(b, pk.C_y), smul(mu, H));
  std::vector<Element> C_vec;
  for (uint32_t i = 0; i < nBuckets; ++i) {
    if (i == hiddenMetadata) {
      C_vec.push_back(smul(r_mu, H));
    } else {
      C_vec.push_back(psub(smul(a_vec[i], H), smul(e_vec[i], psub(C, smul(Scalar::of(i), pk.C_y)))));
    }
  }
  Element C_d = smul(r_d, U);
  Element C_rho = padd(smul(r_d, V), smul(r_rho, H));
  Element C_w = padd(smul(r_d, V), smul(r_w, G()));

  bytes tr;
  put(tr, SerializeElement(G()));
  put(tr, SerializeElement(H));
  put(tr, SerializeElement(pk.C_x));
  put(tr, SerializeElement(pk.C_y));
  put(tr, SerializeElement(pk.Z));
  put(tr, SerializeElement(U));
  put(tr, SerializeElement(V));
  put(tr, SerializeScalar(ts));
  put(tr, SerializeElement(T));
  put(tr, SerializeElement(C));
  for (uint32_t i = 0; i < nBuckets; ++i) {
    put(tr, SerializeElement(C_vec[i]));
  }
  put(tr, SerializeElement(C_d));
  put(tr, SerializeElement(C_rho));
  put(tr, SerializeElement(C_w));

  Scalar e = HashToScalar(p, tr, "TokenResponseProof");
  Scalar sum;
  for (const auto& v : e_vec) {
    sum = add(sum, v);
  }
  e_vec[hiddenMetadata] = sub(e, sum);

  Scalar d_inv = inverse(d);
  Scalar rho = neg(add(add(sk.r_x, mul(b, sk.r_y)), mu));
  Scalar w = add(add(sk.x, mul(b, sk.y)), mul(ts, sk.z));
  a_vec[hiddenMetadata] = add(r_mu, mul(e_vec[hiddenMetadata], mu));
  Scalar a_d = sub(r_d, mul(e, d_inv));
  Scalar a_rho = add(r_rho, mul(e, rho));
  Scalar a_w = add(r_w, mul(e, w));

  bytes out;
  cat(out, SerializeElement(U));
  cat(out, SerializeElement(V));
  cat(out, SerializeScalar(ts));
  cat(out, SerializeElement(C));
  for (const auto& v : e_vec) {
    cat(out, SerializeScalar(v));
  }
  for (const auto& v : a_vec) {
    cat(out, SerializeScalar(v));
  }
  cat(out, SerializeScalar(a_d));
  cat(out, SerializeScalar(a_rho));
  cat(out, SerializeScalar(a_w));
  return out;
}

bool verify_issuance_proof(const params& p, const bytes& token_key, const bytes& request,
                           const bytes& response_bytes) {
  PublicKey pk = parse_public(token_key);
  auto T = DeserializeElement(request.data());
  auto resp = parse_response(p, response_bytes);
  if (!T || !resp) {
    return false;
  }
  const Response& response = *resp;
  const IssuanceProof& pi = response.pi;
  const Element H = GeneratorH(p);

  std::vector<Element> C_vec;
  for (uint32_t i = 0; i < p.n; ++i) {
    C_vec.push_back(psub(smul(pi.a_vec[i], H), smul(pi.e_vec[i], psub(pi.C, smul(Scalar::of(i), pk.C_y)))));
  }
  Scalar e;
  for (const auto& v : pi.e_vec) {
    e = add(e, v);
  }
  Element C_d = padd(smul(pi.a_d, response.U), smul(e, G()));
  Element C_rho = padd(padd(smul(pi.a_d, response.V), smul(pi.a_rho, H)),
                       smul(e, padd(padd(padd(pk.C_x, pi.C), smul(response.ts, pk.Z)), *T)));
  Element C_w = padd(padd(smul(pi.a_d, response.V), smul(pi.a_w, G())), smul(e, *T));

  bytes tr;
  put(tr, SerializeElement(G()));
  put(tr, SerializeElement(H));
  put(tr, SerializeElement(pk.C_x));
  put(tr, SerializeElement(pk.C_y));
  put(tr, SerializeElement(pk.Z));
  put(tr, SerializeElement(response.U));
  put(tr, SerializeElement(response.V));
  put(tr, SerializeScalar(response.ts));
  put(tr, SerializeElement(*T));
  put(tr, SerializeElement(pi.C));
  for (const auto& c : C_vec) {
    put(tr, SerializeElement(c));
  }
  put(tr, SerializeElement(C_d));
  put(tr, SerializeElement(C_rho));
  put(tr, SerializeElement(C_w));
  Scalar e_verify = HashToScalar(p, tr, "TokenResponseProof");
  return eq(e, e_verify);
}

std::optional<bytes> finalize_token(const params& p, const request_state& st,
                                    const bytes& token_key, const bytes& response,
                                    random_source& rng) {
  if (!verify_issuance_proof(p, token_key, st.request, response)) {
    return std::nullopt;
  }
  Response resp = *parse_response(p, response);
  Scalar r = *DeserializeScalar(st.context.data());
  Scalar tc = *DeserializeScalar(st.context.data() + 32);
  Scalar c = RandomNonzeroScalar(rng);
  Element P = smul(c, resp.U);
  Element Q = smul(c, psub(resp.V, smul(r, resp.U)));
  Scalar t = add(tc, resp.ts);
  bytes out;
  cat(out, SerializeScalar(t));
  cat(out, SerializeElement(P));
  cat(out, SerializeElement(Q));
  return out;
}

std::optional<uint32_t> verify_token(const params& p, const bytes& private_key, const bytes& token) {
  if (token.size() != 98) {
    return std::nullopt;
  }
  PrivateKey sk = parse_private(private_key);
  auto t = DeserializeScalar(token.data());
  auto P = DeserializeElement(token.data() + 32);
  auto Q = DeserializeElement(token.data() + 65);
  if (!t || !P || !Q) {
    return std::nullopt;
  }
  if (peq(*P, padd(*P, *P)) || peq(*Q, padd(*Q, *Q))) {
    return std::nullopt;
  }
  int iMatch = -1;
  for (uint32_t i = 0; i < p.n; ++i) {
    Element Q_i = smul(add(add(sk.x, mul(*t, sk.z)), mul(Scalar::of(i), sk.y)), *P);
    if (peq(*Q, Q_i)) {
      if (iMatch != -1) {
        return std::nullopt;
      }
      iMatch = static_cast<int>(i);
    }
  }
  if (iMatch == -1) {
    return std::nullopt;
  }
  return static_cast<uint32_t>(iMatch);
}

}  // namespace athm::oracle
