/*
 * test_sigv4.c - loader/io/sigv4.c against AWS's published Signature Version 4 vectors: the
 * generic aws-sig-v4-test-suite cases (get-vanilla, get-vanilla-query-order-key-case,
 * post-vanilla, get-utf8, get-header-value-trim's trimming) and the S3 developer guide's
 * "GET Object" example with a Range header, which is the request source_http.c sends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "io/sigv4.h"

#define SUITE_CRED "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "

static const char *const suite_date[] = { "X-Amz-Date:20150830T123600Z" };

static void suite_sign(const char *method, const char *path, const char *query,
		       const char *const *hdrs, size_t n, char *out, size_t outlen)
{
	struct tfs_sigv4_req r = {
		.method = method, .host = "example.amazonaws.com", .path = path, .query = query,
		.headers = hdrs, .n_headers = n, .payload_sha256 = TFS_SIGV4_EMPTY_SHA256,
		.amz_date = "20150830T123600Z", .region = "us-east-1", .service = "service",
		.access_key = "AKIDEXAMPLE", .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	};

	assert_int_equal(tfs_sigv4_authorization(&r, out, outlen), 0);
}

static void test_get_vanilla(void **state)
{
	char a[512];

	suite_sign("GET", "/", "", suite_date, 1, a, sizeof(a));
	assert_string_equal(a, SUITE_CRED "SignedHeaders=host;x-amz-date, Signature="
			    "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

static void test_query_order_key_case(void **state)
{
	char a[512];

	suite_sign("GET", "/", "Param2=value2&Param1=value1", suite_date, 1, a, sizeof(a));
	assert_string_equal(a, SUITE_CRED "SignedHeaders=host;x-amz-date, Signature="
			    "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

static void test_post_vanilla(void **state)
{
	char a[512];

	suite_sign("POST", "/", "", suite_date, 1, a, sizeof(a));
	assert_string_equal(a, SUITE_CRED "SignedHeaders=host;x-amz-date, Signature="
			    "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

/* get-utf8: the path "/ሴ" is signed as its UTF-8 bytes percent-encoded. */
static void test_get_utf8(void **state)
{
	char a[512], *path = tfs_sigv4_uri_encode("/\xe1\x88\xb4", 1);

	assert_string_equal(path, "/%E1%88%B4");
	suite_sign("GET", path, "", suite_date, 1, a, sizeof(a));
	free(path);
	assert_string_equal(a, SUITE_CRED "SignedHeaders=host;x-amz-date, Signature="
			    "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
}

/* Surrounding and repeated spaces in a header value do not change the signature. */
static void test_header_trim(void **state)
{
	const char *const h[] = { "X-Amz-Date:   20150830T123600Z  " };
	char a[512];

	suite_sign("GET", "/", "", h, 1, a, sizeof(a));
	assert_non_null(strstr(a, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
}

/* S3 developer guide, "Signature Calculations for the Authorization Header", GET Object. */
static void test_s3_get_object_range(void **state)
{
	const char *const h[] = {
		"Range: bytes=0-9",
		"x-amz-content-sha256: " TFS_SIGV4_EMPTY_SHA256,
		"x-amz-date: 20130524T000000Z",
	};
	struct tfs_sigv4_req r = {
		.method = "GET", .host = "examplebucket.s3.amazonaws.com", .path = "/test.txt",
		.query = "", .headers = h, .n_headers = 3, .payload_sha256 = TFS_SIGV4_EMPTY_SHA256,
		.amz_date = "20130524T000000Z", .region = "us-east-1", .service = "s3",
		.access_key = "AKIAIOSFODNN7EXAMPLE",
		.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	};
	char a[512];

	assert_int_equal(tfs_sigv4_authorization(&r, a, sizeof(a)), 0);
	assert_string_equal(a, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/"
			    "us-east-1/s3/aws4_request, SignedHeaders=host;range;"
			    "x-amz-content-sha256;x-amz-date, Signature="
			    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

static void test_bad_input(void **state)
{
	const char *const h[] = { "no colon here" };
	struct tfs_sigv4_req r = {
		.method = "GET", .host = "h", .path = "/", .query = "", .headers = h, .n_headers = 1,
		.payload_sha256 = TFS_SIGV4_EMPTY_SHA256, .amz_date = "20130524T000000Z",
		.region = "us-east-1", .service = "s3", .access_key = "A", .secret_key = "S",
	};
	char a[512], tiny[8];

	assert_int_equal(tfs_sigv4_authorization(&r, a, sizeof(a)), -EINVAL);
	r.n_headers = 0;
	r.amz_date = "yesterday";
	assert_int_equal(tfs_sigv4_authorization(&r, a, sizeof(a)), -EINVAL);
	r.amz_date = "20130524T000000Z";
	assert_int_equal(tfs_sigv4_authorization(&r, tiny, sizeof(tiny)), -ENOSPC);
	assert_string_equal(tiny, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_vanilla),
		cmocka_unit_test(test_query_order_key_case),
		cmocka_unit_test(test_post_vanilla),
		cmocka_unit_test(test_get_utf8),
		cmocka_unit_test(test_header_trim),
		cmocka_unit_test(test_s3_get_object_range),
		cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests_name("sigv4", tests, NULL, NULL);
}
