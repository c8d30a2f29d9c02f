<?php
/* Installs WordPress and publishes what scripts/try-wordpress checks, without a browser:
 *   php setup.php DOCROOT URL PERMALINKS       (PERMALINKS: plain, /?p=ID; or pretty, /YYYY/MM/slug/)
 * wp_install(), then a large JPEG (made here with GD) through media_handle_sideload, which makes
 * WordPress's resized copies, a published post showing it (block markup: WordPress adds srcset),
 * a private post and a draft. Prints one JSON object on stdout. */
[$docroot, $url, $permalinks] = array_slice($argv, 1, 3);
$parts = parse_url($url);
$_SERVER['HTTP_HOST'] = $parts['host'] . ':' . $parts['port'];
$_SERVER['SERVER_NAME'] = $parts['host'];
$_SERVER['REQUEST_URI'] = '/';
define('WP_INSTALLING', true);
require $docroot . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
require_once ABSPATH . 'wp-admin/includes/media.php';
require_once ABSPATH . 'wp-admin/includes/file.php';
require_once ABSPATH . 'wp-admin/includes/image.php';

if (!is_blog_installed()) {
    wp_install('torrentweb try-out', 'admin', 'admin@example.invalid', true, '', wp_generate_password(24));
}
wp_set_current_user(1);
/* pretty: what most sites use; the rewrite to index.php is in the .htaccess try-wordpress writes */
global $wp_rewrite;       /* not update_option: $wp_rewrite must know (trailing slashes) */
$wp_rewrite->set_permalink_structure($permalinks === 'pretty' ? '/%year%/%monthnum%/%postname%/' : '');
flush_rewrite_rules(false);

/* A photo-like JPEG of a few MB: smooth gradients under per-pixel noise (JPEG cannot shrink noise). */
function large_jpeg(string $path, int $w, int $h): void {
    mt_srand(14);
    $im = imagecreatetruecolor($w, $h);
    for ($y = 0; $y < $h; $y++) {
        for ($x = 0; $x < $w; $x++) {
            $n = mt_rand(0, 90);
            imagesetpixel($im, $x, $y, ((intdiv(255 * $x, $w) ^ $n) << 16) | ((intdiv(255 * $y, $h) ^ $n) << 8) | (128 ^ $n));
        }
    }
    imagejpeg($im, $path, 92);
}
$tmp = wp_tempnam('large-photo.jpg');
large_jpeg($tmp, 2400, 1600);
$attachment = media_handle_sideload(['name' => 'large-photo.jpg', 'tmp_name' => $tmp], 0, 'A large photo');
if (is_wp_error($attachment)) {
    fwrite(STDERR, 'media_handle_sideload: ' . $attachment->get_error_message() . "\n");
    exit(1);
}
$src = wp_get_attachment_url($attachment);
$image = '<!-- wp:image {"id":' . $attachment . ',"sizeSlug":"full","linkDestination":"none"} -->'
    . '<figure class="wp-block-image size-full"><img src="' . esc_url($src) . '" alt="A large photo" class="wp-image-'
    . $attachment . '"/></figure><!-- /wp:image -->';
$paragraph = fn(string $text) => "<!-- wp:paragraph --><p>$text</p><!-- /wp:paragraph -->";
$post = wp_insert_post(['post_title' => 'A post with a large photo', 'post_status' => 'publish',
    'post_content' => $paragraph('Everyone may see this post and its photo.') . $image], true);
set_post_thumbnail($post, $attachment);
$private = wp_insert_post(['post_title' => 'Members only: torrentweb-private-marker', 'post_status' => 'private',
    'post_content' => $paragraph('Only logged-in editors see this.') . $image], true);
$draft = wp_insert_post(['post_title' => 'Not yet: torrentweb-draft-marker', 'post_status' => 'draft',
    'post_content' => $paragraph('A draft.') . $image], true);
foreach ([$post, $private, $draft] as $id) {
    if (is_wp_error($id)) {
        fwrite(STDERR, 'wp_insert_post: ' . $id->get_error_message() . "\n");
        exit(1);
    }
}

$meta = wp_get_attachment_metadata($attachment);
$dir = dirname($meta['file']);
$files = [$meta['file']];
foreach ($meta['sizes'] as $size) {
    $files[] = $dir . '/' . $size['file'];
}
$expire = time() + 3600;
echo json_encode([
    'post' => get_permalink($post),
    'plain' => home_url('/?p=' . $post),
    'private' => get_permalink($private),
    'draft' => add_query_arg(['p' => $draft, 'preview' => 'true'], home_url('/')),
    'uploads' => array_map(fn($f) => 'wp-content/uploads/' . $f, $files),
    /* not LOGGED_IN_COOKIE: defined when the site had no siteurl yet (before wp_install) */
    'logged_in_cookie' => 'wordpress_logged_in_' . md5(get_site_option('siteurl')) . '=' . rawurlencode(wp_generate_auth_cookie(1, $expire, 'logged_in')),
]), "\n";
