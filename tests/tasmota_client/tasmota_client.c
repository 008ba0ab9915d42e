/*
 * tasmota_client: an MQTT-over-TLS client that offers the broker exactly what an
 * ESP8266 Tasmota device offers (BearSSL, TLS 1.2, ECDHE-RSA-AES128-GCM-SHA256,
 * P-256, SHA-256, an EC P-256 client key loaded from the TLSKey1/TLSKey2 payloads).
 *
 * Build: gcc -Wall -Wextra -O2 -I <dir with include/local_ca_*.h> tasmota_client.c -lbearssl
 * Usage and output lines: see README.md next to this file.
 */
#include <bearssl.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The firmware's trust anchor table, built the way tasmota_ca.ino builds it with
 * INCLUDE_LOCAL_CERT, OMIT_LETS_ENCRYPT_CERT and OMIT_AWS_CERT: the generated
 * headers must compile unchanged in exactly this construct. */
#define PROGMEM
#include <include/local_ca_data.h>
const br_x509_trust_anchor PROGMEM Tasmota_TA[] = {
#include <include/local_ca_descriptor.h>
};
#define TASMOTA_TA_COUNT (sizeof Tasmota_TA / sizeof Tasmota_TA[0])

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_TLS = 2, EXIT_REFUSED = 3, EXIT_CLOSED = 4 };
#define MAX_ITEMS 16
#define MAX_PACKET 65536
#define MAX_STRING 1024 /* client id, user, password, topic */

/* ---------- time-bounded socket I/O ---------- */

static int64_t g_deadline_ms; /* every blocking wait ends here */
static int g_timed_out;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 = ready, 0 = deadline reached, -1 = error */
static int wait_fd(int fd, short events, int64_t until_ms)
{
	for (;;) {
		int64_t left = until_ms - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static int sock_read(void *ctx, unsigned char *buf, size_t len)
{
	int fd = *(int *)ctx;
	for (;;) {
		int w = wait_fd(fd, POLLIN, g_deadline_ms);
		if (w <= 0) {
			g_timed_out = (w == 0);
			return -1;
		}
		ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
		if (n > 0)
			return (int)n;
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			return -1;
	}
}

static int sock_write(void *ctx, const unsigned char *buf, size_t len)
{
	int fd = *(int *)ctx;
	for (;;) {
		int w = wait_fd(fd, POLLOUT, g_deadline_ms);
		if (w <= 0) {
			g_timed_out = (w == 0);
			return -1;
		}
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0)
			return (int)n;
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return -1;
	}
}

static int tcp_connect(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	int fd = -1;
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0)
			continue;
		int err = 0;
		socklen_t elen = sizeof err;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, g_deadline_ms) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* ---------- fingerprint validation (SetOption132 1) ---------- */

/* Accepts the server when SHA-1 over len32("ssh-rsa") "ssh-rsa" len32(e) e len32(n) n
 * of the first certificate's RSA key equals the configured fingerprint. All-0x00 or
 * all-0xFF fingerprints accept any key, as the firmware does. */
typedef struct {
	const br_x509_class *vtable;
	br_x509_decoder_context decoder;
	unsigned cert_index;
	unsigned char expected[20];
	int accept_any;
	unsigned char seen[20];
	int have_seen;
} fingerprint_validator;

static void sha1_len_prefixed(br_sha1_context *sha, const unsigned char *data, size_t len)
{
	while (len > 1 && data[0] == 0) { /* unsigned big-endian, no leading zero */
		data++;
		len--;
	}
	unsigned char prefix[4] = { (unsigned char)(len >> 24), (unsigned char)(len >> 16),
				    (unsigned char)(len >> 8), (unsigned char)len };
	br_sha1_update(sha, prefix, 4);
	br_sha1_update(sha, data, len);
}

static void fp_start_chain(const br_x509_class **ctx, const char *server_name)
{
	fingerprint_validator *v = (fingerprint_validator *)(void *)ctx;
	(void)server_name; /* the key is what counts, not the name */
	v->cert_index = 0;
	v->have_seen = 0;
	br_x509_decoder_init(&v->decoder, NULL, NULL);
}

static void fp_start_cert(const br_x509_class **ctx, uint32_t length)
{
	(void)ctx;
	(void)length;
}

static void fp_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	fingerprint_validator *v = (fingerprint_validator *)(void *)ctx;
	if (v->cert_index == 0)
		br_x509_decoder_push(&v->decoder, buf, len);
}

static void fp_end_cert(const br_x509_class **ctx)
{
	((fingerprint_validator *)(void *)ctx)->cert_index++;
}

static unsigned fp_end_chain(const br_x509_class **ctx)
{
	fingerprint_validator *v = (fingerprint_validator *)(void *)ctx;
	br_x509_pkey *pk = br_x509_decoder_get_pkey(&v->decoder);
	if (pk == NULL)
		return BR_ERR_X509_INVALID_VALUE;
	if (pk->key_type != BR_KEYTYPE_RSA)
		return BR_ERR_X509_WRONG_KEY_TYPE;
	br_sha1_context sha;
	br_sha1_init(&sha);
	sha1_len_prefixed(&sha, (const unsigned char *)"ssh-rsa", 7);
	sha1_len_prefixed(&sha, pk->key.rsa.e, pk->key.rsa.elen);
	sha1_len_prefixed(&sha, pk->key.rsa.n, pk->key.rsa.nlen);
	br_sha1_out(&sha, v->seen);
	v->have_seen = 1;
	if (v->accept_any || memcmp(v->seen, v->expected, 20) == 0)
		return 0;
	return BR_ERR_X509_NOT_TRUSTED;
}

static const br_x509_pkey *fp_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	fingerprint_validator *v = (fingerprint_validator *)(void *)ctx;
	if (usages != NULL)
		*usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
	return br_x509_decoder_get_pkey(&v->decoder);
}

static const br_x509_class fingerprint_vtable = {
	sizeof(fingerprint_validator), fp_start_chain, fp_start_cert, fp_append,
	fp_end_cert, fp_end_chain, fp_get_pkey,
};

/* "AA BB ..." (spaces or colons optional) -> 20 bytes; 0 on success */
static int parse_fingerprint(const char *text, unsigned char out[20])
{
	size_t n = 0;
	while (*text != '\0') {
		unsigned byte;
		if (*text == ' ' || *text == ':') {
			text++;
			continue;
		}
		if (n == 20 || sscanf(text, "%2x", &byte) != 1 || text[1] == '\0')
			return -1;
		out[n++] = (unsigned char)byte;
		text += 2;
	}
	return n == 20 ? 0 : -1;
}

/* ---------- MQTT 3.1.1 ---------- */

static size_t put_str(unsigned char *p, const char *s, size_t len)
{
	p[0] = (unsigned char)(len >> 8);
	p[1] = (unsigned char)len;
	memcpy(p + 2, s, len);
	return len + 2;
}

/* Writes fixed header + body; 0 on success */
static int mqtt_send(br_sslio_context *io, unsigned char type, const unsigned char *body, size_t len)
{
	unsigned char head[5];
	size_t h = 0, rest = len;
	head[h++] = type;
	do {
		head[h] = (unsigned char)(rest % 128);
		rest /= 128;
		head[h++] |= rest > 0 ? 0x80 : 0;
	} while (rest > 0);
	if (br_sslio_write_all(io, head, h) < 0 || (len > 0 && br_sslio_write_all(io, body, len) < 0))
		return -1;
	return br_sslio_flush(io);
}

/* Reads one packet into buf; returns its first byte, or -1 */
static int mqtt_recv(br_sslio_context *io, unsigned char *buf, size_t *len)
{
	unsigned char b;
	if (br_sslio_read_all(io, &b, 1) < 0)
		return -1;
	int type = b;
	size_t remaining = 0;
	for (int shift = 0; shift < 28; shift += 7) {
		if (br_sslio_read_all(io, &b, 1) < 0)
			return -1;
		remaining |= (size_t)(b & 0x7F) << shift;
		if (!(b & 0x80))
			break;
	}
	if (remaining > MAX_PACKET || (remaining > 0 && br_sslio_read_all(io, buf, remaining) < 0))
		return -1;
	*len = remaining;
	return type;
}

/* MESSAGE <topic> <payload>: bytes outside printable ASCII and '\' as \xHH */
static void print_publish(int type, const unsigned char *p, size_t len)
{
	if (len < 2)
		return;
	size_t tlen = ((size_t)p[0] << 8) | p[1];
	size_t off = 2 + tlen + (((type >> 1) & 3) ? 2 : 0);
	if (off > len)
		return;
	printf("MESSAGE %.*s ", (int)tlen, (const char *)p + 2);
	for (size_t i = off; i < len; i++) {
		if (p[i] < 0x20 || p[i] >= 0x7F || p[i] == '\\')
			printf("\\x%02x", p[i]);
		else
			putchar(p[i]);
	}
	putchar('\n');
}

/* ---------- main ---------- */

typedef struct {
	const char *host, *port, *server_name, *key_file, *cert_file, *client_id;
	const char *fingerprint, *username, *password;
	const char *subscribe[MAX_ITEMS];
	const char *publish[MAX_ITEMS][2];
	int n_subscribe, n_publish;
	long wait_ms, timeout_ms;
	int ecdsa; /* SetOption165 1 on a USE_MQTT_TLS_ECDSA build */
} options;

static int usage(void)
{
	fprintf(stderr, "usage: tasmota_client --host H --port P --key FILE --cert FILE --client-id ID\n"
			"  [--server-name NAME] [--fingerprint \"AA BB ...\"] [--username U] [--password P]\n"
			"  [--subscribe TOPIC]... [--publish TOPIC PAYLOAD]... [--wait-ms N] [--timeout-ms N]\n"
			"  [--ecdsa]\n");
	return EXIT_USAGE;
}

static int parse_args(int argc, char **argv, options *o)
{
	memset(o, 0, sizeof *o);
	o->timeout_ms = 5000;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int more = argc - i - 1;
		if (strcmp(a, "--publish") == 0 && more >= 2 && o->n_publish < MAX_ITEMS) {
			o->publish[o->n_publish][0] = argv[++i];
			o->publish[o->n_publish++][1] = argv[++i];
			continue;
		}
		if (strcmp(a, "--ecdsa") == 0) {
			o->ecdsa = 1;
			continue;
		}
		if (more < 1)
			return -1;
		const char *v = argv[++i];
		if (strcmp(a, "--host") == 0) o->host = v;
		else if (strcmp(a, "--port") == 0) o->port = v;
		else if (strcmp(a, "--server-name") == 0) o->server_name = v;
		else if (strcmp(a, "--key") == 0) o->key_file = v;
		else if (strcmp(a, "--cert") == 0) o->cert_file = v;
		else if (strcmp(a, "--client-id") == 0) o->client_id = v;
		else if (strcmp(a, "--fingerprint") == 0) o->fingerprint = v;
		else if (strcmp(a, "--username") == 0) o->username = v;
		else if (strcmp(a, "--password") == 0) o->password = v;
		else if (strcmp(a, "--wait-ms") == 0) o->wait_ms = atol(v);
		else if (strcmp(a, "--timeout-ms") == 0) o->timeout_ms = atol(v);
		else if (strcmp(a, "--subscribe") == 0 && o->n_subscribe < MAX_ITEMS)
			o->subscribe[o->n_subscribe++] = v;
		else
			return -1;
	}
	if (!o->host || !o->port || !o->key_file || !o->cert_file || !o->client_id ||
	    o->timeout_ms <= 0 || o->wait_ms < 0)
		return -1;
	const char *strings[3 + MAX_ITEMS] = { o->client_id, o->username, o->password };
	for (int i = 0; i < o->n_subscribe; i++)
		strings[3 + i] = o->subscribe[i];
	for (int i = 0; i < 3 + MAX_ITEMS; i++)
		if (strings[i] && strlen(strings[i]) > MAX_STRING)
			return -1;
	for (int i = 0; i < o->n_publish; i++)
		if (strlen(o->publish[i][0]) > MAX_STRING || strlen(o->publish[i][1]) > MAX_PACKET / 2)
			return -1;
	if (!o->server_name)
		o->server_name = o->host;
	return 0;
}

static long read_file(const char *path, unsigned char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -1;
	size_t n = fread(buf, 1, cap, f);
	int extra = fgetc(f) != EOF;
	fclose(f);
	return extra ? -1 : (long)n;
}

/* The engine as Tasmota sets it up: only what its cipher suites need. With ecdsa
   (SetOption165 1 on a USE_MQTT_TLS_ECDSA build, CA mode) the ECDSA suite and ECDSA
   signature verification are added; otherwise the single RSA suite. */
static void configure_engine(br_ssl_client_context *cc, int ecdsa)
{
	static const uint16_t suites[] = { BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
					   BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 };
	br_ssl_engine_context *eng = &cc->eng;
	br_ssl_client_zero(cc);
	br_ssl_engine_add_flags(eng, BR_OPT_NO_RENEGOTIATION);
	br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_suites(eng, suites, ecdsa ? 2 : 1);
	if (ecdsa)
		br_ssl_engine_set_ecdsa(eng, &br_ecdsa_i15_vrfy_asn1);
	br_ssl_client_set_default_rsapub(cc);
	br_ssl_engine_set_default_rsavrfy(eng);
	br_ssl_engine_set_hash(eng, br_sha256_ID, &br_sha256_vtable);
	br_ssl_engine_set_prf_sha256(eng, &br_tls12_sha256_prf);
	br_ssl_engine_set_gcm(eng, &br_sslrec_in_gcm_vtable, &br_sslrec_out_gcm_vtable);
	br_ssl_engine_set_aes_ctr(eng, &br_aes_small_ctr_vtable);
	br_ssl_engine_set_ghash(eng, &br_ghash_ctmul32);
	br_ssl_engine_set_ec(eng, &br_ec_p256_m15);
}

/* SetOption132 0: the compiled-in trust anchors, RSA signatures (and ECDSA ones with
   ecdsa: without a verifier an ECDSA-signed certificate is error 49), device time. */
static void use_trust_anchors(br_ssl_engine_context *eng, br_x509_minimal_context *x509, int ecdsa)
{
	br_x509_minimal_init(x509, &br_sha256_vtable, Tasmota_TA, TASMOTA_TA_COUNT);
	br_x509_minimal_set_rsa(x509, br_ssl_engine_get_rsavrfy(eng));
	if (ecdsa)
		br_x509_minimal_set_ecdsa(x509, &br_ec_p256_m15, &br_ecdsa_i15_vrfy_asn1);
	br_x509_minimal_set_hash(x509, br_sha256_ID, &br_sha256_vtable);
	time_t now = time(NULL);
	br_x509_minimal_set_time(x509, (uint32_t)(now / 86400 + 719528), (uint32_t)(now % 86400));
	br_ssl_engine_set_x509(eng, &x509->vtable);
}

/* SetOption132 1: the public-key fingerprint. */
static void use_fingerprint(br_ssl_engine_context *eng, fingerprint_validator *x509)
{
	x509->vtable = &fingerprint_vtable;
	x509->accept_any = 1;
	for (int i = 0; i < 20; i++)
		if (x509->expected[i] != 0x00 && x509->expected[i] != 0xFF)
			x509->accept_any = 0;
	br_ssl_engine_set_x509(eng, &x509->vtable);
}

static void print_fingerprint(const unsigned char fp[20])
{
	printf("SERVER_FINGERPRINT");
	for (int i = 0; i < 20; i++)
		printf(" %02X", fp[i]);
	printf("\n");
}

/* CONNECT, SUBSCRIBE, PUBLISH, wait, DISCONNECT; returns the exit code */
static int mqtt_session(br_sslio_context *io, int fd, const options *o)
{
	static unsigned char pkt[MAX_PACKET];
	size_t n, len;
	int type;

	/* CONNECT: protocol level 4 (3.1.1), clean session, keepalive 30 s */
	g_deadline_ms = now_ms() + o->timeout_ms;
	n = put_str(pkt, "MQTT", 4);
	pkt[n++] = 4;
	pkt[n++] = 0x02 | (o->username ? 0x80 : 0) | (o->password ? 0x40 : 0);
	pkt[n++] = 0;
	pkt[n++] = 30;
	const char *fields[3] = { o->client_id, o->username, o->password };
	for (int i = 0; i < 3; i++)
		if (fields[i])
			n += put_str(pkt + n, fields[i], strlen(fields[i]));
	if (mqtt_send(io, 0x10, pkt, n) < 0 || (type = mqtt_recv(io, pkt, &len)) < 0) {
		fprintf(stderr, "connection closed before CONNACK\n");
		return EXIT_CLOSED;
	}
	if (type != 0x20 || len != 2) {
		fprintf(stderr, "expected CONNACK, got packet 0x%02x\n", type);
		return EXIT_CLOSED;
	}
	printf("CONNACK %d\n", pkt[1]);
	if (pkt[1] != 0)
		return EXIT_REFUSED;

	for (int i = 0; i < o->n_subscribe; i++) {
		g_deadline_ms = now_ms() + o->timeout_ms;
		n = 0;
		pkt[n++] = 0;
		pkt[n++] = (unsigned char)(i + 1); /* packet id */
		n += put_str(pkt + n, o->subscribe[i], strlen(o->subscribe[i]));
		pkt[n++] = 0; /* QoS 0 */
		if (mqtt_send(io, 0x82, pkt, n) < 0)
			return EXIT_CLOSED;
		do { /* retained messages may come before the SUBACK */
			type = mqtt_recv(io, pkt, &len);
			if ((type & 0xF0) == 0x30)
				print_publish(type, pkt, len);
		} while (type >= 0 && !(type == 0x90 && len >= 3));
		if (type < 0)
			return EXIT_CLOSED;
		printf("SUBACK %d\n", pkt[2]);
	}
	for (int i = 0; i < o->n_publish; i++) {
		size_t payload_len = strlen(o->publish[i][1]);
		g_deadline_ms = now_ms() + o->timeout_ms;
		n = put_str(pkt, o->publish[i][0], strlen(o->publish[i][0]));
		memcpy(pkt + n, o->publish[i][1], payload_len);
		if (mqtt_send(io, 0x30, pkt, n + payload_len) < 0)
			return EXIT_CLOSED;
	}

	/* Keep reading until wait-ms has passed; a half-received packet gets timeout-ms more. */
	int64_t wait_end = now_ms() + o->wait_ms;
	while (now_ms() < wait_end) {
		if (!(br_ssl_engine_current_state(io->engine) & BR_SSL_RECVAPP)) {
			int ready = wait_fd(fd, POLLIN, wait_end);
			if (ready == 0)
				break;
			if (ready < 0)
				return EXIT_CLOSED;
		}
		g_deadline_ms = now_ms() + o->timeout_ms;
		type = mqtt_recv(io, pkt, &len);
		if (type < 0) {
			fprintf(stderr, "connection closed\n");
			return EXIT_CLOSED;
		}
		if ((type & 0xF0) == 0x30)
			print_publish(type, pkt, len);
	}
	g_deadline_ms = now_ms() + o->timeout_ms;
	mqtt_send(io, 0xE0, pkt, 0); /* DISCONNECT; then TCP is dropped, as PubSubClient does */
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static br_ssl_client_context cc;
	static br_x509_minimal_context x509_ca;
	static fingerprint_validator x509_fp;
	static unsigned char iobuf_in[1024 + 325], iobuf_out[1024 + 85]; /* ESP8266 sizes */
	static unsigned char key_raw[33], cert_der[4096];
	options o;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (parse_args(argc, argv, &o) < 0)
		return usage();
	if (o.fingerprint && parse_fingerprint(o.fingerprint, x509_fp.expected) < 0) {
		fprintf(stderr, "fingerprint must be 20 hex bytes\n");
		return EXIT_USAGE;
	}
	long key_len = read_file(o.key_file, key_raw, sizeof key_raw);
	long cert_len = read_file(o.cert_file, cert_der, sizeof cert_der);
	if (key_len != 32 || cert_len <= 0) {
		fprintf(stderr, "key must be a 32-byte P-256 scalar and cert a DER file\n");
		return EXIT_USAGE;
	}
	br_ec_private_key key = { BR_EC_secp256r1, key_raw, 32 };
	br_x509_certificate chain = { cert_der, (size_t)cert_len };

	/* fingerprint mode offers the RSA suite only, whatever SetOption165 says */
	configure_engine(&cc, o.ecdsa && !o.fingerprint);
	if (o.fingerprint)
		use_fingerprint(&cc.eng, &x509_fp);
	else
		use_trust_anchors(&cc.eng, &x509_ca, o.ecdsa);
	br_ssl_engine_set_buffers_bidi(&cc.eng, iobuf_in, sizeof iobuf_in, iobuf_out,
				       sizeof iobuf_out);
	/* Tasmota: all usages, issuer key type unused (ECDSA signing, no static ECDH) */
	br_ssl_client_set_single_ec(&cc, &chain, 1, &key, 0xFFFF, 0, &br_ec_p256_m15,
				    br_ecdsa_sign_asn1_get_default());

	g_deadline_ms = now_ms() + o.timeout_ms;
	int fd = tcp_connect(o.host, o.port);
	if (fd < 0) {
		fprintf(stderr, "TCP connect to %s:%s failed\n", o.host, o.port);
		return EXIT_CLOSED;
	}
	br_sslio_context io;
	br_sslio_init(&io, &cc.eng, sock_read, &fd, sock_write, &fd);
	int handshake_ok = br_ssl_client_reset(&cc, o.server_name, 0) && br_sslio_flush(&io) == 0;
	if (x509_fp.have_seen) /* what MqttFingerprint1 would have to be */
		print_fingerprint(x509_fp.seen);
	int status;
	if (handshake_ok) {
		status = mqtt_session(&io, fd, &o);
	} else if (g_timed_out) {
		fprintf(stderr, "timeout during TLS handshake\n");
		status = EXIT_CLOSED;
	} else {
		fprintf(stderr, "TLS error %d\n", br_ssl_engine_last_error(&cc.eng));
		status = EXIT_TLS;
	}
	close(fd);
	return status;
}
